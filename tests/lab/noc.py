"""Asking the lab NOC's Prometheus and Alertmanager from inside the NOC namespace,
as a responder there would (`meshkeeper alerts`), for the lab tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lab.noc import urls
from lab.plan import NOC_NS
from tests.lab.conftest import Lab

MESHKEEPER = str(Path(sys.executable).with_name("meshkeeper"))
GET = """
import json, sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())
"""


def noc_get(lab: Lab, url: str) -> Any:
    done = lab.ns_run(NOC_NS, [sys.executable, "-c", GET, url])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def query(lab: Lab, base: str, promql: str) -> list[dict[str, Any]]:
    answer = noc_get(lab, f"{base}/api/v1/query?query={quote(promql)}")
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def alerts(lab: Lab) -> dict[str, Any]:
    """`meshkeeper alerts --json`, as a responder at the NOC runs it."""
    done = lab.ns_run(NOC_NS, [MESHKEEPER, "alerts", "--json", "-i", str(lab.inventory)])
    assert done.returncode in (0, 1), done.stdout + done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    assert answer["critical"] == (done.returncode == 1), answer
    return answer


def firing(lab: Lab, name: str, **labels: str) -> list[dict[str, Any]]:
    return [
        a
        for a in alerts(lab)["alerts"]
        if a["name"] == name and all(a["labels"].get(k) == v for k, v in labels.items())
    ]


def prometheus_alerts(lab: Lab) -> list[dict[str, Any]]:
    """Every alert Prometheus holds, pending ones too (an alert that would fire later)."""
    prometheus, _ = urls(lab.inv)
    return list(noc_get(lab, f"{prometheus}/api/v1/alerts")["data"]["alerts"])


def fault(lab: Lab, *args: str) -> None:
    done = subprocess.run(
        [MESHKEEPER, "lab", "fault", "-i", str(lab.inventory), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def heal(lab: Lab) -> None:
    done = subprocess.run(
        [MESHKEEPER, "lab", "heal", "-i", str(lab.inventory)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
