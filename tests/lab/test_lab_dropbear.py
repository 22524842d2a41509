"""A lab router's SSH server behaves like OpenWrt's dropbear under procd.

reload_config returns at once and dropbear restarts PROCD_RELOAD_DELAY later
(so a login right after reload_config proves nothing); `option Interface` on
an interface with no address leaves nothing listening; sessions survive a
restart; `ubus` answers as OpenWrt's does (../shared/FIELD-NOTES.md).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lab.shim.ifstatus import ANY
from lab.shim.ubus import ubus_json
from tests.lab.conftest import Lab, wait_for

pytestmark = pytest.mark.lab
NODE = "relay-clinic"  # an ed25519 router; two others keep its part of the mesh joined
UBUS = "/usr/local/sbin/ubus"
RELOAD = "cat > /etc/config/dropbear && /usr/local/sbin/reload_config"
# From the NOC: poll the SSH port until it refuses; print the wall-clock time it did.
GONE = """import socket, sys, time
end = time.time() + 5
while time.time() < end:
    try:
        socket.create_connection((sys.argv[1], 22), timeout=1).close()
    except ConnectionRefusedError:
        print(time.time())
        break
    time.sleep(0.02)
"""


def ssh_argv(lab: Lab, node: str) -> list[str]:
    return [
        "ip", "netns", "exec", "mk-noc", "ssh",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
        "-i", str(lab.paths.controller_key), f"root@{lab.inv.plan[node].management}",
    ]  # fmt: skip


@contextmanager
def open_session(lab: Lab, node: str) -> Iterator[subprocess.Popen[str]]:
    """A logged-in session that echoes each line it is sent."""
    argv = [*ssh_argv(lab, node), 'echo ready; while read l; do echo "got $l"; done']
    with subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as session:
        assert session.stdout is not None
        assert session.stdout.readline() == "ready\n"
        try:
            yield session
        finally:
            session.kill()


def echoes(session: subprocess.Popen[str], line: str) -> bool:
    assert session.stdin is not None and session.stdout is not None
    session.stdin.write(f"{line}\n")
    session.stdin.flush()
    return session.stdout.readline() == f"got {line}\n"


def ubus(lab: Lab, node: str, *args: str) -> subprocess.CompletedProcess[str]:
    return lab.in_router(node, [UBUS, "call", *args])


def dropbear_service(lab: Lab, node: str) -> dict[str, object]:
    out = ubus(lab, node, "service", "list", '{"name":"dropbear"}').stdout
    return json.loads(out)["dropbear"]  # type: ignore[no-any-return]


def test_reload_config_restarts_dropbear_a_second_later_and_sessions_survive(lab: Lab) -> None:
    original = lab.ssh(NODE, "cat /etc/config/dropbear").stdout
    blind = re.sub(r"option Interface '[^']*'", "option Interface 'nonexistent'", original)
    if blind == original:  # a renderer that binds no interface: add one that has no address
        blind = original.rstrip("\n") + "\n\toption Interface 'nonexistent'\n"
    address = str(lab.inv.plan[NODE].management)
    try:
        with open_session(lab, NODE) as session:
            assert lab.ssh(NODE, RELOAD, stdin=blind).returncode == 0
            returned = time.time()
            login = lab.ssh(NODE, "true")  # the old dropbear still serves...
            logged_in = time.time() - returned
            gone = lab.ns_run("mk-noc", ["python3", "-c", GONE, address]).stdout
            assert gone, "the SSH port still answers 5 s after reload_config"
            refused = float(gone) - returned  # ...and is gone PROCD_RELOAD_DELAY later
            print(f"\nlogin {logged_in:.2f} s after reload_config, refused after {refused:.2f} s")
            assert login.returncode == 0 and logged_in < refused
            assert 0.5 < refused < 2.5
            assert dropbear_service(lab, NODE) == {}  # no instance: no sshd at all
            assert ":22 " not in lab.in_router(NODE, ["ss", "-ltnH"]).stdout
            assert echoes(session, "still here")  # the session outlived its master
            restored = lab.in_router(NODE, ["sh", "-c", RELOAD], stdin=original)
            assert restored.returncode == 0, restored.stderr
            back = wait_for(lambda: lab.ssh(NODE, "true").returncode == 0, 10, step=0.2)
            print(f"listener back {back:.2f} s after restoring the config")
            assert echoes(session, "again")
    finally:
        lab.in_router(NODE, ["sh", "-c", RELOAD], stdin=original)
        wait_for(lambda: lab.ssh(NODE, "true").returncode == 0, 10, step=0.2)


def test_init_script_restart_keeps_the_calling_session(lab: Lab) -> None:
    before = dropbear_service(lab, NODE)
    out = lab.ssh(NODE, "/etc/init.d/dropbear restart && echo still-here")
    assert out.returncode == 0, out.stderr
    assert "instance1: stopped" in out.stdout and out.stdout.endswith("still-here\n")
    after = dropbear_service(lab, NODE)
    assert before != after  # a new master process
    assert lab.ssh(NODE, "/etc/init.d/dropbear reload").stdout == "dropbear: unchanged\n"
    assert dropbear_service(lab, NODE) == after


def test_ubus_answers_like_openwrt_and_matches_the_router(lab: Lab) -> None:
    listed = ubus(lab, NODE, "service", "list")
    assert listed.returncode == 0
    assert listed.stdout == ubus_json(json.loads(listed.stdout)) + "\n"
    services = json.loads(listed.stdout)
    assert set(services) == {"babeld", "dropbear", "meshkeeper-agent"}
    for name, comm in (("babeld", "babeld"), ("dropbear", "sshd")):
        for instance in services[name]["instances"].values():
            assert instance["running"] is True
            proc = Path(f"/proc/{instance['pid']}/comm")  # the lab shares the host's pids
            assert proc.read_text().strip() == comm
    command = services["dropbear"]["instances"]["instance1"]["command"]
    binds = [command[i + 1] for i, arg in enumerate(command) if arg == "-p"]
    listening = lab.in_router(NODE, ["ss", "-ltnH"]).stdout.split()
    assert binds and all((b if ":" in b else f"{ANY}:{b}") in listening for b in binds)
    dump = ubus(lab, NODE, "network.interface", "dump").stdout
    interfaces = {i["interface"]: i for i in json.loads(dump)["interface"]}
    management = str(lab.inv.plan[NODE].management)
    assert {"address": management, "mask": 32} in interfaces["mesh"]["ipv4-address"]
    missing = ubus(lab, NODE, "nosuch.object", "dump")
    assert (missing.returncode, missing.stderr) == (4, "Command failed: Not found\n")
