"""Runs after every other lab test (file order): `down` from a fresh process, then
look for anything the lab left behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lab.build import is_lab_namespace
from lab.host import RUN_DIR, namespaces
from tests.lab.conftest import Lab

pytestmark = pytest.mark.lab


def test_teardown_leaves_nothing_behind(lab: Lab) -> None:
    result = subprocess.run(
        [".venv/bin/meshkeeper", "lab", "down", "-i", str(lab.inventory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not [n for n in namespaces() if is_lab_namespace(n)]
    assert not RUN_DIR.exists()
    mounts = Path("/proc/self/mountinfo").read_text()
    assert "meshkeeper-lab" not in mounts and str(lab.paths.root) not in mounts
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(lab.paths.root) not in procs  # no sshd or babeld of the lab
    leftovers = sorted(p.name for p in (lab.paths.root / "nodes").glob("*/*"))
    assert set(leftovers) <= {
        "ssh_host_ed25519_key",
        "ssh_host_ed25519_key.pub",
        "ssh_host_rsa_key",
        "ssh_host_rsa_key.pub",
    }
    assert not (lab.paths.root / "state.json").exists()
    # The host gained no interface or route into the lab (checked without sending a packet).
    host_routes = subprocess.run(
        ["ip", "-4", "route"], capture_output=True, text=True, check=True
    ).stdout
    assert not any(
        str(pool.network_address).rsplit(".", 2)[0] in host_routes for pool in lab.plan.routed_pools
    )
    host_links = subprocess.run(
        ["ip", "-br", "link"], capture_output=True, text=True, check=True
    ).stdout
    assert not any(
        line.startswith(("wl", "lanport", "lanclient")) for line in host_links.splitlines()
    )


def test_down_cleans_up_after_a_crashed_up(lab: Lab) -> None:
    """A half-finished `up` (namespaces, a process, a mount handle, no state file):
    `down` from a fresh process finds everything by name and removes it."""
    subprocess.run(["ip", "netns", "add", "mkn-crashed"], check=True)
    subprocess.run(["ip", "netns", "add", "mk-noc"], check=True)
    sleeper = subprocess.Popen(["ip", "netns", "exec", "mkn-crashed", "sleep", "600"])
    # A process that leaves the namespace when told to stop and lives on (as an
    # exiting process does for a moment): `down` must wait for it, not for the namespace.
    escaper = subprocess.Popen(
        [
            *("ip", "netns", "exec", "mkn-crashed", "sh", "-c"),
            'trap "exec unshare -n sleep 30" TERM; while :; do sleep 0.05; done',
        ]
    )
    handle = RUN_DIR / "mnt" / "crashed"
    handle.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(RUN_DIR), str(RUN_DIR)], check=True)
    subprocess.run(["mount", "--make-private", str(RUN_DIR)], check=True)
    handle.touch()
    subprocess.run(["unshare", f"--mount={handle}", "true"], check=True)
    try:
        result = subprocess.run(
            [".venv/bin/meshkeeper", "lab", "down", "-i", str(lab.inventory)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert sleeper.wait(timeout=10) != 0  # killed with its namespace
        assert escaper.poll() is not None, "lab down returned while a lab process lived on"
        assert not [n for n in namespaces() if is_lab_namespace(n)]
        assert not RUN_DIR.exists()
        assert "meshkeeper-lab" not in Path("/proc/self/mountinfo").read_text()
    finally:
        for process in (sleeper, escaper):
            if process.poll() is None:
                process.kill()
                process.wait()
