"""One practice lab per test session, built from a copy of the example network.

Brought up once, always torn down (even when a test fails); the last check of
the session is that `down` left nothing behind.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.model.inventory import Inventory
from controller.model.load import load_inventory
from lab.build import down, up
from lab.host import mount_handle, nsenter
from lab.paths import LabPaths
from lab.plan import LabPlan
from tests.conftest import EXAMPLE

pytestmark = pytest.mark.lab


@dataclass
class Lab:
    inv: Inventory
    plan: LabPlan
    paths: LabPaths
    inventory: Path
    up_seconds: float
    converged_seconds: float

    def ns_run(
        self, netns: str, argv: list[str], **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", netns, *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            **kwargs,
        )  # type: ignore[call-overload]

    def in_router(
        self, node: str, argv: list[str], stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run argv as the router does: its network and its own /etc and /tmp."""
        command = nsenter(self.plan.nodes[node].namespace, mount_handle(node), argv)
        return subprocess.run(
            command, capture_output=True, text=True, timeout=60, check=False, input=stdin
        )

    def routes(self, node: str) -> set[ipaddress.IPv4Network]:
        out = self.ns_run(self.plan.nodes[node].namespace, ["ip", "-j", "-4", "route"]).stdout
        nets = set()
        for route in json.loads(out or "[]"):
            if "unreachable" in route.get("type", "") or route.get("type") == "unreachable":
                continue
            dst = route["dst"]
            nets.add(ipaddress.IPv4Network("0.0.0.0/0" if dst == "default" else dst))
        return nets

    def ssh(
        self, node: str, command: str, *, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        address = str(self.inv.plan[node].management)
        key = self.paths.controller_key
        legacy: list[str] = []
        if self.inv.nodes[node].ssh.legacy_rsa:  # a 19.07-like router: ssh-rsa and an RSA key
            key = key.with_name("controller_rsa")
            legacy = ["-o", "HostKeyAlgorithms=ssh-rsa", "-o", "PubkeyAcceptedAlgorithms=ssh-rsa"]
        return self.ns_run(
            "mk-noc",
            [
                "ssh",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=5",
                "-o",
                "LogLevel=ERROR",
                *legacy,
                "-i",
                str(key),
                f"root@{address}",
                command,
            ],
            input=stdin,
        )


def attached_bench(
    lab: Lab, script: str, *args: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """bench/SCRIPT ARGS --attach on the session's lab (a lab of its own costs half a
    minute); fails with its output's tail unless it exits 0 without a traceback."""
    from tests.conftest import ROOT

    proc = subprocess.run(
        [sys.executable, str(ROOT / script), *args, "--attach", str(lab.inventory)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Traceback" not in out, out[-4000:]
    return proc


def wait_for(predicate, timeout: float, step: float = 0.5) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    raise AssertionError(f"not reached within {timeout:.0f} s")


def converged(lab: Lab) -> bool:
    for name in lab.plan.nodes:
        routes = lab.routes(name)
        for other, plan in lab.inv.plan.items():
            host = ipaddress.IPv4Network(f"{plan.mesh_address}/32")
            if other != name and (plan.lan_subnet not in routes or host not in routes):
                return False
    return True


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.fail("the lab tests need root (CI runs as root)")
    base = tmp_path_factory.mktemp("lab")
    inventory = base / "inventory"
    shutil.copytree(EXAMPLE, inventory)
    LabPaths.for_inventory(inventory).make_controller_keys()
    inv = load_inventory(inventory, resolve_secrets=True)
    paths = LabPaths.for_inventory(inventory)
    down(paths)  # nothing of an earlier lab may interfere
    try:
        start = time.monotonic()
        plan = up(inv)
        up_seconds = time.monotonic() - start
        lab = Lab(inv, plan, paths, inventory, up_seconds, 0.0)
        lab.converged_seconds = wait_for(lambda: converged(lab), timeout=90)
        yield lab
    finally:
        down(paths)
