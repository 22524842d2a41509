"""The NOC end to end, on the session's lab: real Prometheus and Alertmanager from
`monitoring render`, the recorder standing in for the responders' webhook.

The international cut's alert (firing, delivered, resolved after heal) is checked
in test_detect.py, on the cut the detection bench already makes there, and one
router losing power being "down", never a shutdown, in test_lab.py, on the power
cut it makes there (each scenario costs the lab half a minute). Here: the NOC is
up and scraping, a platform blocked at the TLS handshake is
PlatformBlocked{layer=tls_sni}, and a second Prometheus federating from a
segment's sees every agent.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

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
from tests.lab.noc import alerts, fault, firing, heal, noc_get, query

pytestmark = pytest.mark.lab


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
    inv = load_inventory(inventory)  # its login keys are the lab's: not needed here
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
