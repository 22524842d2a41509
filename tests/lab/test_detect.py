"""Shutdown detection end to end, on the session's lab: bench/detect.py --smoke.

The international cut is injected with `lab fault`; every router's agent,
probing every 5 s, must hold `international_shutdown` within a few rounds and
`ok` again after `heal`, and no router may show any other class meanwhile.
This is the bench's smoke run too (tests/bench/test_bench_smoke.py): it runs
here, on the lab that is already up, because a lab of its own costs a minute.
The full matrix of faults is `bench/detect.py` (README, Performance).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from agent import contract
from controller.render.context import SecretCache
from controller.secrets import WEBHOOK
from lab.noc import NocPaths
from lab.recorder import read
from tests.lab.conftest import Lab, attached_bench, wait_for

pytestmark = pytest.mark.lab

MESHKEEPER = str(Path(sys.executable).with_name("meshkeeper"))


def test_an_international_cut_is_detected_everywhere_and_clears(lab: Lab, tmp_path: Path) -> None:
    """Then, the NOC having had no Prometheus all along, `meshkeeper backfill` brings the
    routers' journals of the cut into a real Prometheus, where a query finds it."""
    started = time.time()
    proc = attached_bench(lab, "bench/detect.py", "--smoke", timeout=240)
    out = proc.stdout + proc.stderr
    assert re.search(r"^international-cut +(\. +){7}\.$", proc.stdout, re.MULTILINE), out
    assert "diagonal: 8/8 = 100.0 %" in proc.stdout, out
    detection = re.search(r"detection delay, rounds: median ([0-9.]+), max ([0-9.]+)", out)
    assert detection and float(detection.group(2)) <= 4.5, out  # K = 3 rounds, plus a phase
    cleared = re.search(r"clear delay after heal, rounds: median [0-9.]+, max ([0-9.]+)", out)
    assert cleared and float(cleared.group(1)) <= 3.5, out  # L = 2 rounds, plus a phase
    backfilled = lab.ns_run(
        "mk-noc",
        [
            MESHKEEPER,
            "backfill",
            "-i",
            str(lab.inventory),
            "--since",
            str(int(started) - 1),
            "-o",
            str(tmp_path / "fill"),
            "--accept-new-host-keys",
        ],
    )
    assert backfilled.returncode == 0, backfilled.stdout + backfilled.stderr
    assert len(re.findall(r"^\S+ +[1-9][0-9]* samples$", backfilled.stdout, re.MULTILINE)) == 8
    series = query_backfilled(tmp_path, started)
    assert sorted(series) == sorted(lab.plan.nodes), "every router's cut, from its journal"
    noc_saw_the_cut(lab, started)


def noc_saw_the_cut(lab: Lab, since: float) -> None:
    """The lab NOC's real Prometheus and Alertmanager turned the same cut into a
    critical InternationalShutdown (both gateways, both ISPs) delivered to the
    responders' webhook, then a resolved notification after heal; nothing said
    any router was down."""
    journal = NocPaths.of(lab.paths).notifications
    webhook = urlsplit(_responders_url(lab))

    def delivered(status: str) -> list[dict[str, object]]:
        return [
            alert
            for entry in read(journal)
            if entry["kind"] == "webhook"
            and entry["received"] >= since
            and entry["path"] == webhook.path
            for alert in entry["body"]["alerts"]
            if alert["labels"]["alertname"] == "InternationalShutdown" and alert["status"] == status
        ]

    wait_for(lambda: bool(delivered("resolved")), timeout=60)
    fired = delivered("firing")
    assert fired, read(journal)
    assert {a["labels"]["severity"] for a in fired} == {"critical"}, fired
    first = min(entry["received"] for entry in read(journal) if entry["received"] >= since)
    assert first - since < 120, "the alert came within the smoke's window"
    description = str(fired[0]["annotations"]["description"])
    assert all(gw in description for gw in lab.inv.gateway_names), description
    down = [
        alert
        for entry in read(journal)
        if entry["received"] >= since and isinstance(entry.get("body"), dict)
        for alert in entry["body"].get("alerts", [])
        if alert["labels"]["alertname"] in ("AgentDown", "NocCutOff")
    ]
    assert not down, down


def _responders_url(lab: Lab) -> str:
    ref = lab.inv.noc.receivers["responders"].webhook
    assert ref is not None
    return SecretCache(lab.inv).text(ref, WEBHOOK)


def query_backfilled(tmp_path: Path, since: float) -> list[str]:
    """A real Prometheus (on loopback) over the backfilled blocks: the routers that held
    international_shutdown, by the `node` label backfill gave them."""
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus is missing: debian-packages.txt installs it"
    data = tmp_path / "tsdb"
    shutil.copytree(tmp_path / "fill" / "blocks", data)
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 15s}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        query = urllib.parse.urlencode(
            {
                "query": f'max by (node) ({contract.M_VERDICT}{{class="international_shutdown"}})',
                "start": since,
                "end": time.time(),
                "step": 5,
            }
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/query_range?{query}", timeout=5
                ) as answer:
                    found = json.load(answer)["data"]["result"]
                break
            except OSError:
                assert time.monotonic() < deadline, "prometheus did not answer in 30 s"
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(10)
    return [r["metric"]["node"] for r in found if any(v[1] == "1" for v in r["values"])]
