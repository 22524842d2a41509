"""Real OpenWrt 22.03.4 routers for the firmware tier, booted by ../shared/openwrt/owrt-node.sh.

Each router is the real userland (procd, netifd, dropbear, fw4, busybox, libuci) in
network namespace owrtN; its eth0 is cabled to the root namespace, which is the NOC
(10.99.N.1). Routers use numbers 201..210 only (others boot their own elsewhere) and
the harness's state lives in STATE, kept across runs so the pristine rootfs is
unpacked once. Every router booted here is torn down (`down N`) when its module
ends, even when a test fails; one left by a killed run is removed before booting.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import ROOT

HARNESS = ROOT.parent / "shared" / "openwrt" / "owrt-node.sh"
STATE = Path("/var/lib/meshkeeper-firmware")
NUMBERS = range(201, 211)
BOOTS = pytest.StashKey[list[tuple[int, float]]]()


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.5) -> float:
    """Seconds until predicate() held; AssertionError after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    raise AssertionError(f"not reached within {timeout:.0f} s")


class Applied(NamedTuple):
    """What the router's flash says about meshkeeper's last push."""

    generation: int  # 0: never pushed
    pending: bool  # a push not (yet) confirmed


@dataclass
class Router:
    number: int
    boot_seconds: float = 0.0

    @property
    def subnet(self) -> str:
        return f"10.99.{self.number}"

    @property
    def factory_address(self) -> str:
        return f"{self.subnet}.2"

    @property
    def noc_address(self) -> str:
        """The root namespace's end of the router's eth0 cable."""
        return f"{self.subnet}.1"

    @property
    def key(self) -> Path:
        """The harness's RSA key: the factory router's authorized key."""
        return STATE / "keys" / "id_rsa"

    def harness(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HARNESS), args[0], str(self.number), *args[1:]],
            env=os.environ | {"OWRT_NODE_DIR": str(STATE)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def flash(self, path: str) -> Path:
        """A file on the router's flash, read from the host without the router: the
        harness keeps each router's root file system in $OWRT_NODE_DIR/N/root."""
        return STATE / str(self.number) / "root" / path.lstrip("/")

    def console(self, command: str, timeout: float = 60) -> str:
        """Run a shell command inside the router, past its network (nsenter)."""
        result = self.harness("console", command, timeout=timeout)
        assert result.returncode == 0, f"console {command!r}: {result.stdout}{result.stderr}"
        return result.stdout

    def ssh(
        self, address: str, command: str, *, port: int = 22, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Log in as the NOC does: over the cable, with the harness's key."""
        return subprocess.run(
            [
                "ssh",
                "-i",
                str(self.key),
                "-p",
                str(port),
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=3",
                "-o",
                "LogLevel=ERROR",
                f"root@{address}",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def answers_ssh(self, address: str, port: int = 22) -> bool:
        return self.ssh(address, "true", port=port).returncode == 0

    def applied(self) -> Applied:
        out = self.console(
            "cat /etc/meshkeeper/applied.json 2>/dev/null; echo; echo '--pending--';"
            " test -e /etc/meshkeeper/pending && echo pending; true"
        )
        record, _, pending = out.partition("--pending--")
        generation = int(json.loads(record)["generation"]) if record.strip() else 0
        return Applied(generation, "pending" in pending)

    def init_pid(self) -> str | None:
        """procd's pid as the harness records it (None while the router is down)."""
        out = self.harness("status").stdout  # "node N up: init pid P, release ..."
        words = out.replace(",", " ").split()
        return words[words.index("pid") + 1] if "pid" in words else None

    def power_cut(self) -> None:
        """`owrt-node.sh powercut N`: every router process killed at once, then it boots.

        Returns once procd runs again. The harness then waits for a `lan` interface up
        at the factory address, which a router on meshkeeper's config does not have
        (its LAN is a bridge this kernel cannot build, and the NOC's cable is `noc`):
        that wait is stopped here rather than left to time out.
        """
        before = self.init_pid()
        with subprocess.Popen(
            [str(HARNESS), "powercut", str(self.number)],
            env=os.environ | {"OWRT_NODE_DIR": str(STATE)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group; the router runs in another
        ) as cut:
            try:
                wait_for(lambda: self.init_pid() not in (None, before), 30, step=0.2)
            finally:
                with suppress(ProcessLookupError):
                    os.killpg(cut.pid, signal.SIGTERM)
                cut.wait(timeout=30)


class Firmware:
    """Boots routers (201..210) and always takes them down again."""

    def __init__(self, boots: list[tuple[int, float]]) -> None:
        self._boots = boots

    @contextmanager
    def booted(self, number: int) -> Iterator[Router]:
        assert number in NUMBERS, f"router {number}: this tier owns 201..210 only"
        router = Router(number)
        router.harness("down")  # a router left by a killed run: start from the factory
        try:
            start = time.monotonic()
            result = router.harness("up", timeout=180)
            router.boot_seconds = time.monotonic() - start
            assert result.returncode == 0, (
                f"owrt-node.sh up {number} failed:\n{result.stdout}{result.stderr}"
            )
            self._boots.append((number, router.boot_seconds))
            yield router
        finally:
            down = router.harness("down")
            assert down.returncode == 0, f"owrt-node.sh down {number}: {down.stderr}"


@pytest.fixture(scope="session")
def firmware(request: pytest.FixtureRequest) -> Firmware:
    if os.geteuid() != 0:
        pytest.fail("the firmware tests need root (CI runs as root)")
    if not HARNESS.is_file():
        pytest.fail(
            f"the OpenWrt router harness is missing: {HARNESS} — the firmware tests "
            "need a copy of shared/ beside the repository (../shared/openwrt/)"
        )
    return Firmware(request.config.stash.setdefault(BOOTS, []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    boots = terminalreporter.config.stash.get(BOOTS, [])
    if boots:
        times = ", ".join(f"{number}: {seconds:.1f} s" for number, seconds in boots)
        terminalreporter.write_line(f"firmware routers booted (owrt-node.sh up): {times}")
