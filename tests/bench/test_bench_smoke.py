"""Every benchmark in bench/ runs in its --smoke mode (tiny sizes, the same code
paths and peers) and prints its figures: a bench that breaks fails CI instead of
rotting until the next person needs it. Nothing here judges speed.

They run before the lab tests (file order): the lab benches build their own lab
and refuse to start while another is up. The push bench goes first: meanwhile
scripts/run-tests makes bench/.venv with the peers (netjsonconfig, ansible-core).
The agent and detection benches run their smokes on the lab tests' lab (--attach).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BENCH = ROOT / "bench"
PYTHON = sys.executable
FIGURE = r"[0-9]+(?:\.[0-9]+)?"


def smoke(script: str, *, python: str = PYTHON, timeout: float = 120) -> str:
    proc = subprocess.run(
        [python, str(BENCH / script), "--smoke"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    return proc.stdout


# Smoke runs that live elsewhere: on a lab that is already up, not one of their own.
ELSEWHERE = {
    "detect.py": ROOT / "tests/lab/test_detect.py",
    "agent_footprint.py": ROOT / "tests/lab/test_agent.py",
}


def test_every_bench_has_a_smoke_test() -> None:
    """A new bench/*.py must get its smoke run here (or, listed in ELSEWHERE, in the
    test that runs it), and must not shadow a package of the project (a script's own
    directory comes first on sys.path)."""
    here = Path(__file__).read_text(encoding="utf-8")
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    for script in sorted(BENCH.glob("*.py")):
        where = ELSEWHERE.get(script.name)
        if where is not None:
            text = where.read_text(encoding="utf-8")
            assert f'"bench/{script.name}"' in text and '"--smoke"' in text, where
        else:
            assert f'"{script.name}"' in here, f"{script.name} has no smoke run in {__file__}"
        assert script.stem not in packages, f"bench/{script.name} shadows the {script.stem} package"


def test_peers_smoke() -> None:
    out = smoke("peers.py", timeout=300)
    assert re.search(
        r"bench peers in bench/\.venv: netjsonconfig [0-9.]+ ansible-core [0-9.]+", out
    )


def test_gen_network_smoke() -> None:
    assert re.search(rf"generated 20 nodes, [0-9]+ bytes, in {FIGURE} s", smoke("gen_network.py"))


def test_noc_smoke() -> None:
    """A real Prometheus on loopback scraping 50 synthetic agents, with the rules."""
    out = smoke("noc.py", timeout=180)
    assert re.search(rf"= status from Prometheus +{FIGURE} ms", out), out
    assert re.search(rf"peer: live_from_agents .* {FIGURE} ms", out), out
    assert "both paths agree on 50/50 routers" in out, out
    assert re.search(rf"all groups +[0-9]+ +{FIGURE} +{FIGURE}", out), out
    assert "evaluation failures: 0" in out, out
    assert "InternationalShutdown (critical)" in out, out


def test_check_smoke() -> None:
    out = smoke("check.py")
    assert re.search(rf"meshkeeper check, 100 nodes: median {FIGURE} s", out), out


@pytest.fixture(scope="module")
def render_output() -> str:
    """bench/render.py also makes bench/.venv with its peer, netjsonconfig."""
    return smoke("render.py", timeout=300)


def test_render_smoke_against_netjsonconfig(render_output: str) -> None:
    assert re.search(rf"render\(\) with validation +{FIGURE} ms per device", render_output)
    for network in ("example", "generated-20"):
        row = re.search(rf"^{network} +([0-9]+) +{FIGURE}", render_output, re.MULTILINE)
        assert row, render_output
    assert re.search(rf">= 20x netjsonconfig, both validating: {FIGURE}x", render_output)


def test_netjson_device_smoke(render_output: str) -> None:
    out = smoke("netjson_device.py", python=str(BENCH / ".venv" / "bin" / "python"))
    assert re.search(rf'"validated_ms": {FIGURE}', out), out
    assert '"packages": ' in out


@pytest.mark.lab
def test_push_smoke_against_ansible() -> None:
    if os.geteuid() != 0:
        pytest.fail("bench/push.py builds the practice lab: run the tests as root")
    out = smoke("push.py", timeout=600)
    assert re.search(rf"meshkeeper push, changed \(1/1 applied\) +{FIGURE} s", out), out
    assert re.search(rf"meshkeeper re-push, unchanged \(1/1 unchanged\) +{FIGURE} s", out), out
    assert re.search(rf"ansible-playbook, changed \(1/1 hosts changed\) +{FIGURE} s", out), out
    assert re.search(rf"ratio ansible / meshkeeper, changed +{FIGURE}x", out), out
    assert "PROBLEM" not in out
    assert "lab down: " in out and "(ok)" in out
