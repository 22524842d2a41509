"""The agent on every lab router, scraped from the NOC as Prometheus would.

Runs before the push tests (file order): the routers run the agent.json the
lab rendered at `lab up`. A round is the neighbours collector's interval.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.noc.targets import agent_targets
from lab.faults import heal, inject
from lab.router import COLLECT_INTERVAL
from tests.lab.conftest import Lab, attached_bench, converged, wait_for

pytestmark = pytest.mark.lab
ROUND = float(COLLECT_INTERVAL)  # the lab's agents collect this often (lab/router.py)
FETCH = """import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as answer:
    sys.stdout.write(answer.read().decode())
"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(lab: Lab, host_port: str, tries: int = 1) -> Samples:
    """GET /metrics from inside the NOC namespace; every sample by name and labels.
    `tries` > 1: while babel re-routes around a cut link the NOC may have no route
    for a moment (ENETUNREACH); a second later it has."""
    for attempt in range(tries):
        out = lab.ns_run("mk-noc", [sys.executable, "-c", FETCH, f"http://{host_port}/metrics"])
        if out.returncode == 0 or attempt == tries - 1:
            break
        time.sleep(1)
    assert out.returncode == 0, out.stderr
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(out.stdout)
        for s in family.samples
    }


def values(samples: Samples, name: str, key: str) -> dict[str, float]:
    return {dict(labels)[key]: v for (n, labels), v in samples.items() if n == name}


def expected_neighbours(lab: Lab, node: str) -> set[str]:
    return {name for name, _link in lab.inv.links_by_node.get(node, [])}


def target(lab: Lab, node: str) -> str:
    return next(t.host_port for t in agent_targets(lab.inv) if t.node == node)


def links_up(lab: Lab, node: str) -> dict[str, float]:
    return values(scrape(lab, target(lab, node), tries=5), "meshkeeper_link_up", "neighbor")


def test_every_agent_answers_with_healthy_collectors(lab: Lab) -> None:
    wait_for(lambda: converged(lab), 90)
    for t in agent_targets(lab.inv):
        samples = scrape(lab, t.host_port)
        success = values(samples, "meshkeeper_collector_success", "collector")
        # the lab has no radios and no batman-adv module: those two are disabled
        assert success == {
            "system": 1,
            "interfaces": 1,
            "babel": 1,
            "neighbours": 1,
            "probes": 1,
        }, t.node
        info = values(samples, "meshkeeper_agent_info", "release")
        assert info == {lab.inv.nodes[t.node].release: 1.0}


def test_a_live_exposition_passes_promtool(lab: Lab) -> None:
    """What a real router serves (every lab-usable collector), as Prometheus checks it."""
    url = f"http://{target(lab, 'relay-water-tower')}/metrics"
    out = lab.ns_run("mk-noc", [sys.executable, "-c", FETCH, url])
    assert out.returncode == 0, out.stderr
    assert "meshkeeper_babel_neighbor_cost" in out.stdout
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: debian-packages.txt installs prometheus"
    checked = subprocess.run(
        [promtool, "check", "metrics"],
        input=out.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr


def test_babel_neighbours_and_links_match_the_topology(lab: Lab) -> None:
    wait_for(lambda: converged(lab), 90)

    def matches() -> bool:
        for node in lab.plan.nodes:
            samples = scrape(lab, target(lab, node))
            babel = values(samples, "meshkeeper_babel_neighbor_reach_ratio", "neighbor")
            up = values(samples, "meshkeeper_link_up", "neighbor")
            want = expected_neighbours(lab, node)
            if set(babel) != want or up != dict.fromkeys(want, 1.0):
                return False
        return True

    wait_for(matches, 45, step=2)  # babel hears every neighbour within a few hellos


def test_link_down_shows_within_two_rounds(lab: Lab) -> None:
    wait_for(lambda: converged(lab), 90)
    a, b = "relay-clinic", "gw-school"  # both stay reachable through other links
    wait_for(lambda: links_up(lab, a).get(b) == 1.0 and links_up(lab, b).get(a) == 1.0, 45)
    inject(lab.inv, lab.plan, lab.paths, "link-down", [a, b])
    start = time.monotonic()
    try:
        wait_for(lambda: links_up(lab, a).get(b) == 0.0, 2 * ROUND, step=1)
        seen = time.monotonic() - start
        assert links_up(lab, b).get(a) == 0.0  # the other end sees it too
        others = links_up(lab, a)
        assert all(v == 1.0 for name, v in others.items() if name != b), others
        print(f"\nlink-down seen by the agent after {seen:.1f} s (round {ROUND:.0f} s)")
    finally:
        heal(lab.inv, lab.plan, lab.paths, "link-down")
    wait_for(lambda: links_up(lab, a).get(b) == 1.0, 6 * ROUND, step=1)
    wait_for(lambda: converged(lab), 90)


def test_scrape_is_served_from_cache(lab: Lab) -> None:
    """Ten scrapes in a row from the NOC: each is fast and none waits for a collection."""
    code = (
        "import sys, time, urllib.request\n"
        "times = []\n"
        "for _ in range(10):\n"
        "    t = time.monotonic()\n"
        "    urllib.request.urlopen(sys.argv[1], timeout=5).read()\n"
        "    times.append(time.monotonic() - t)\n"
        "print(max(times))\n"
    )
    url = f"http://{target(lab, 'relay-water-tower')}/metrics"
    out = lab.ns_run("mk-noc", [sys.executable, "-c", code, url])
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 0.5  # a neighbours round alone takes over a second


def test_the_agent_bench_runs_on_this_lab_against_node_exporter(lab: Lab) -> None:
    """bench/agent_footprint.py --smoke, attached: a lab of its own costs half a minute.
    It swaps relay-water-tower's agent for an instrumented one and starts it again."""
    proc = attached_bench(lab, "bench/agent_footprint.py", "--smoke", timeout=300)
    out = proc.stdout + proc.stderr
    figure = r"[0-9]+(?:\.[0-9]+)?"
    assert re.search(rf"agent /metrics p99: {figure} ms", out), out
    assert re.search(rf"agent RSS / node_exporter RSS: {figure}x", out), out
    assert re.search(rf"probe round: [0-9]+ probes, last took {figure} s wall", out), out
    assert re.search(r"probe traffic: [0-9,]+ B up, [0-9,]+ B down per round", out), out
    url = f"http://{target(lab, 'relay-water-tower')}/metrics"  # the lab's own agent, back
    wait_for(lambda: lab.ns_run("mk-noc", [sys.executable, "-c", FETCH, url]).returncode == 0, 30)
