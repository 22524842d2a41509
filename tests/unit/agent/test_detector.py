"""The detector: which probes a round sends where, the verdict over rounds, the metrics.

Probers are replaced by a fake that honours the probe contract (a Result per
Request, never an exception for network behaviour) and answers from a small
model of the network, so each test states the world and checks what the
agent concludes. The real probes are tested against real servers in
test_probe_*.py; the whole chain runs in the lab (tests/lab/test_detect.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent import contract
from agent.baseline import Baselines
from agent.config import parse_config
from agent.detector import Detector
from agent.journal import Journal
from agent.probes import PROBERS
from agent.probes.base import Request, Result, result
from agent.verdict import OK, Finding
from tests.unit.agent.conftest import MINIMAL, exposition, promtool_problems

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "render"


def golden(node: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / node / "etc/meshkeeper/agent.json").read_text())
    return data


Dead = Callable[[Request], str]  # the failure string for a request, "" when it succeeds


def fake(dead: Dead, seen: list[Request] | None = None) -> dict[str, Any]:
    def probe(request: Request) -> Result:
        if seen is not None:
            seen.append(request)
        started = time.monotonic()
        failure = dead(request)
        value = {"icmp": 0.01, "throughput": 500_000.0}.get(request.kind)
        detail = {"status": "200", "size": "60", "title": ""} if request.kind == "http" else {}
        if request.kind == "dns" and request.target.host:
            detail["host"] = request.target.host
        return result(request, started, ok=not failure, failure=failure, value=value, detail=detail)

    return dict.fromkeys(contract.PROBE_KINDS, probe)


def healthy(request: Request) -> str:
    del request
    return ""


def cut_abroad(request: Request) -> str:
    """Every foreign target silent; resolving their names at a domestic resolver works."""
    foreign = request.target.tier in ("international", "platforms")
    name_lookup = request.kind == "dns" and request.target.host is not None
    return "generic_timeout_error" if foreign and not name_lookup else ""


def detector(node: str, dead: Dead = healthy, **kwargs: Any) -> Detector:
    config = parse_config(json.dumps(golden(node)))
    return Detector(config, probers=fake(dead, kwargs.pop("seen", None)), **kwargs)


def test_the_probe_map_has_every_kind_of_the_contract() -> None:
    assert set(PROBERS) == set(contract.PROBE_KINDS)


def test_a_gateway_probes_through_each_uplink_bound_to_its_device(tmp_path: Path) -> None:
    routes = tmp_path / "route"
    routes.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "wan\t00000000\t014040640\t0003\t0\t0\t0\t00000000\n".replace("014040640", "01004064")
    )
    seen: list[Request] = []
    d = detector("gw-market", seen=seen, route_file=routes)
    d.round()
    assert {r.path.uplink for r in seen} == {"wan"}
    assert {r.path.device for r in seen} == {"wan"}
    hop = [r for r in seen if r.target.tier == "gateway"]
    assert [(r.kind, r.target.address) for r in hop] == [("icmp", "100.64.0.1")]
    isp = {r.target.name for r in seen if r.target.tier == "isp"}
    assert isp == {"fibre-resolver"}, "another ISP's resolver is reached through that ISP"


def test_a_static_uplink_uses_its_configured_first_hop(tmp_path: Path) -> None:
    seen: list[Request] = []
    detector("gw-school", seen=seen, route_file=tmp_path / "none").round()
    hop = [r.target.address for r in seen if r.target.tier == "gateway"]
    assert hop == ["100.72.1.1"]


def test_a_relay_probes_the_gateways_and_everything_through_the_mesh() -> None:
    seen: list[Request] = []
    detector("relay-clinic", seen=seen).round()
    assert {r.path.uplink for r in seen} == {contract.MESH_PATH}
    assert {r.path.device for r in seen} == {None}
    mesh = {(r.target.name, r.target.address) for r in seen if r.target.tier == "mesh"}
    assert mesh == {("gw-market", "10.31.0.1"), ("gw-school", "10.31.0.2")}
    assert {r.target.name for r in seen if r.target.tier == "isp"} == {
        "fibre-resolver",
        "lte-resolver",
    }


def test_dns_requests_know_the_resolvers_control_and_expected_answers() -> None:
    seen: list[Request] = []
    detector("relay-clinic", seen=seen).round()
    chat = next(r for r in seen if r.kind == "dns" and r.target.name == "chat")
    assert {t.name for t in chat.settings.resolvers} == {
        "fibre-resolver",
        "lte-resolver",
        "intl-resolver",
    }
    assert chat.settings.control_host == "www.world.test"
    assert chat.settings.expected["chat.platform.test"] == "198.18.2.10"
    assert chat.settings.ca_file == "/etc/ssl/certs/meshkeeper-lab-ca.crt"


def test_throughput_runs_while_learning_then_every_n_rounds(tmp_path: Path) -> None:
    seen: list[Request] = []
    baselines = Baselines(tmp_path / "b.json")
    d = detector("relay-clinic", seen=seen, baselines=baselines)
    counts = []
    for _ in range(12):
        seen.clear()
        d.round()
        counts.append(sum(r.kind == "throughput" for r in seen))
    every = golden("relay-clinic")["probes"]["throughput_every"]
    assert counts[:3] == [2, 2, 2], "learning: every round until the baseline holds"
    assert counts[3:] == [2 if (i + 4) % every == 0 else 0 for i in range(9)]


def test_a_slow_download_is_repeated_every_round_and_becomes_a_verdict(tmp_path: Path) -> None:
    baselines = Baselines(tmp_path / "b.json")
    d = detector("relay-clinic", baselines=baselines)
    for _ in range(5):
        d.round()
    slow: list[Request] = []

    def throttled(request: Request) -> Result:
        slow.append(request)
        started = time.monotonic()
        return result(request, started, ok=True, value=20_000.0, detail={"cv": "0.04"})

    d.probers = {**d.probers, "throughput": throttled}
    every = golden("relay-clinic")["probes"]["throughput_every"]
    for _ in range(every):  # the next scheduled download finds it slow
        d.round()
        if slow:
            break
    assert len(slow) == 2
    rounds = [d.round() for _ in range(2)]
    assert len(slow) == 2 * 3, "each slow target again in each following round"
    assert Finding("throttled", contract.MESH_PATH, target="video") in rounds[-1].verdict.active


def test_an_international_cut_is_the_verdict_after_three_rounds() -> None:
    d = detector("relay-clinic", cut_abroad)
    verdicts = [set(d.round().verdict.active) for _ in range(3)]
    cut = Finding("international_shutdown", contract.MESH_PATH)
    assert verdicts == [{OK}, {OK}, {cut}]
    d.probers = fake(healthy)
    assert [set(d.round().verdict.active) for _ in range(2)] == [{cut}, {OK}]


def test_metrics_pass_promtool_and_the_verdict_is_one_hot() -> None:
    d = detector("gw-market", cut_abroad)
    for _ in range(3):
        d.round()
    text = exposition(d.families())
    assert promtool_problems(text) == ""
    verdict = [line for line in text.splitlines() if line.startswith("meshkeeper_verdict{")]
    on = [line for line in verdict if line.endswith(" 1.0")]
    assert on == [
        'meshkeeper_verdict{class="international_shutdown",layer="",platform="",target="",'
        'uplink="wan"} 1.0'
    ]
    assert any('class="ok"' in line and line.endswith(" 0.0") for line in verdict)
    assert "meshkeeper_verdict_since_timestamp_seconds{" in text
    assert 'meshkeeper_probe_failures_total{failure="generic_timeout_error",kind="icmp"' in text
    assert 'meshkeeper_tier_reachable_ratio{tier="international",uplink="wan"} 0.0' in text


def test_label_values_come_from_agent_json_only() -> None:
    d = detector("relay-clinic", cut_abroad)
    d.round()
    config = golden("relay-clinic")
    names = {t["name"] for tier in contract.TARGET_TIERS for t in config["probes"][tier]}
    names |= {g["name"] for g in config["probes"]["gateways"]}
    names |= {t["isp"] for t in config["probes"]["isp"]}
    for family in d.families():
        for sample in family.samples:
            for label in ("target", "platform"):
                assert sample.labels.get(label, "") in names | {""}


def test_a_crashing_probe_is_a_failed_result_not_a_dead_round() -> None:
    def broken(request: Request) -> Result:
        raise RuntimeError("bug")

    d = detector("relay-clinic")
    d.probers = {**d.probers, "tls": broken}
    done = d.round()
    tls = [r for r in done.results if r.kind == "tls"]
    assert tls and all(not r.ok and r.failure == "unknown_failure" for r in tls)


def test_a_hung_probe_costs_the_round_its_timeout_not_more() -> None:
    def hung(request: Request) -> Result:
        time.sleep(5)
        raise AssertionError("never returns in time")

    d = detector("relay-clinic", timeout=0.3)
    d.probers = {**d.probers, "http": hung}
    started = time.monotonic()
    done = d.round()
    assert time.monotonic() - started < 2.0
    assert {r.failure for r in done.results if r.kind == "http"} == {"generic_timeout_error"}


def test_rounds_are_journalled_and_baselines_learned_only_when_healthy(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal", flush_every=0)
    baselines = Baselines(tmp_path / "b.json")
    d = detector("relay-clinic", cut_abroad, journal=journal, baselines=baselines)
    d.round()
    assert baselines.get("intl-web", "icmp", contract.MESH_PATH) is None
    d.probers = fake(healthy)
    d.round()
    assert baselines.get("intl-web", "icmp", contract.MESH_PATH) is not None
    d.close()
    assert len(list(journal.read())) == 2


def test_nothing_to_probe_means_no_detector_job(tmp_path: Path) -> None:
    from agent.cli import probe_detector

    config = parse_config(
        json.dumps({**MINIMAL, "probes": {"interval_seconds": 60, "gateway": True}})
    )
    assert probe_detector(config, tmp_path / "state") is None


@pytest.mark.parametrize("node", ["gw-market", "relay-clinic"])
def test_possible_findings_cover_every_class(node: str) -> None:
    d = detector(node)
    classes = {f.cls for f in d.possible_findings()}
    expected = set(contract.VERDICT_CLASSES) - (
        {"mesh_partition"} if node.startswith("gw") else set()
    )
    assert classes == expected


def test_a_gateway_says_which_isp_each_uplink_is_and_a_relay_has_none() -> None:
    """The NOC's fleet rules count ISPs by this series (monitoring/rules/shutdown.yml)."""
    gateway = {
        (s.labels["uplink"], s.labels["isp"])
        for f in detector("gw-school").families()
        for s in f.samples
        if s.name == f"{contract.M_UPLINK}_info"
    }
    assert gateway == {("wan", "isp-lte")}
    relay = [f for f in detector("relay-clinic").families() if f.name == contract.M_UPLINK]
    assert relay == []
    assert promtool_problems(exposition(detector("gw-school").families())) == ""
