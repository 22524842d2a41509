"""The NOC end to end, on the session's lab: real Prometheus and Alertmanager from
`monitoring render`, the recorder standing in for the responders' webhook.

The international cut's alert (firing, delivered, resolved after heal) is checked
in test_detect.py, on the cut the detection bench already makes there; here: the
NOC is up and scraping, one router losing power is "down" and never a shutdown,
a platform blocked at the TLS handshake is PlatformBlocked{layer=tls_sni}, and a
second Prometheus federating from a segment's sees every agent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent import contract
from controller.model.load import load_inventory
from controller.noc.config import render_monitoring
from controller.render.output import write_files
from lab.host import spawn_detached
from lab.noc import TIMING, urls
from lab.plan import NOC_NS
from tests.lab.conftest import Lab, wait_for

pytestmark = pytest.mark.lab

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
    from urllib.parse import quote

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


@pytest.fixture(scope="module")
def federation(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A segment Prometheus scraping every agent and a global one federating from it,
    both real, in the NOC namespace on loopback addresses of their own, from the
    config `monitoring render` makes for an inventory with one segment."""
    base = tmp_path_factory.mktemp("federation")
    inventory = base / "inventory"
    subprocess.run(["cp", "-r", str(lab.inventory), str(inventory)], check=True)
    network = inventory / "network.yaml"
    data = yaml.safe_load(network.read_text())
    data["noc"]["segments"] = {
        "riverside": {"address": "127.0.0.2", "port": 19090, "nodes": sorted(lab.plan.nodes)}
    }
    network.write_text(yaml.safe_dump(data, sort_keys=False))
    inv = load_inventory(inventory, resolve_secrets=True)
    config = base / "config"
    write_files(config, render_monitoring(inv, TIMING))
    pids = []
    for listen, conf, name in (
        ("127.0.0.2:19090", config / "segments/riverside/prometheus.yml", "segment"),
        ("127.0.0.3:19091", config / "prometheus.yml", "global"),
    ):
        argv = [
            "nsenter", f"--net=/run/netns/{NOC_NS}", "--", "prometheus",
            f"--config.file={conf}", f"--storage.tsdb.path={base / name}",
            f"--web.listen-address={listen}",
        ]  # fmt: skip
        pids.append(spawn_detached(argv, base / f"{name}.log"))
    try:
        yield "http://127.0.0.2:19090", "http://127.0.0.3:19091"
    finally:
        for pid in pids:
            subprocess.run(["kill", str(pid)], check=False)


def test_the_noc_scrapes_every_agent_and_the_controller(
    lab: Lab, federation: tuple[str, str]
) -> None:
    prometheus, alertmanager = urls(lab.inv)

    def all_up() -> bool:
        up = query(lab, prometheus, f'up{{job="{contract.JOB_AGENTS}"}} == 1')
        return sorted(s["metric"]["node"] for s in up) == sorted(lab.plan.nodes)

    wait_for(all_up, timeout=30)
    rules = noc_get(lab, f"{prometheus}/api/v1/rules")["data"]["groups"]
    names = {r["name"] for g in rules for r in g["rules"] if r["type"] == "alerting"}
    assert {"AgentDown", "InternationalShutdown", "PlatformBlocked", "LinkLost"} <= names
    assert all(g["rules"][0]["health"] in ("ok", "unknown") for g in rules), rules
    controller = query(lab, prometheus, f'up{{job="{contract.JOB_CONTROLLER}"}}')
    assert [s["value"][1] for s in controller] == ["1"]
    status = noc_get(lab, f"{alertmanager}/api/v2/status")
    assert status["cluster"]["status"] in ("disabled", "ready"), status
    assert alerts(lab)["critical"] is False


def test_one_router_losing_power_is_down_never_a_shutdown(lab: Lab) -> None:
    """relay-water-tower and the three leaves behind it stop answering; no alert of
    the shutdown category may even be pending meanwhile."""
    fault(lab, "node-down", "relay-water-tower")
    shutdown: list[dict[str, Any]] = []

    def agent_down() -> bool:
        shutdown.extend(
            a for a in prometheus_alerts(lab) if a["labels"].get("category") == "shutdown"
        )
        return bool(firing(lab, "AgentDown", node="relay-water-tower"))

    try:
        wait_for(agent_down, timeout=60, step=2)
        end = time.monotonic() + 3 * TIMING.round_seconds  # the verdicts' rounds go on
        while time.monotonic() < end:
            agent_down()
            time.sleep(2)
    finally:
        heal(lab)
    assert not shutdown, shutdown


def test_a_platform_blocked_at_the_handshake_is_platform_blocked_tls_sni(lab: Lab) -> None:
    fault(lab, "platform-block", "chat", "tls-sni")
    try:
        wait_for(lambda: bool(firing(lab, "PlatformBlocked", platform="chat")), 90, step=2)
        blocked = firing(lab, "PlatformBlocked", platform="chat")
    finally:
        heal(lab)
    assert {a["labels"]["layer"] for a in blocked} == {"tls_sni"}, blocked
    assert all(a["category"] == "shutdown" for a in blocked), blocked


def test_a_global_prometheus_federating_from_a_segment_sees_every_agent(
    lab: Lab, federation: tuple[str, str]
) -> None:
    segment, global_ = federation

    def every_agent() -> bool:
        seen = query(lab, global_, f'count by (node) ({contract.M_VERDICT}{{segment="riverside"}})')
        return sorted(s["metric"]["node"] for s in seen) == sorted(lab.plan.nodes)

    wait_for(every_agent, timeout=60, step=2)
    here = query(lab, segment, f'count({{job="{contract.JOB_AGENTS}"}})')
    there = query(lab, global_, f'count({{job="{contract.JOB_AGENTS}"}})')
    assert abs(float(here[0]["value"][1]) - float(there[0]["value"][1])) <= 0.05 * float(
        here[0]["value"][1]
    ), (here, there)
