"""Pushes to a real OpenWrt router meshkeeper already manages: the router's own
rollback (its timer, its boot hook) and pushes that restart every service.

The router's planned address is its factory address (slot 2), so a plain push takes
it under management. Tests run in file order on the one router; each leaves it on
the base config, except the last, which renames it and moves SSH to another port.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.firmware.conftest import Firmware, Router, wait_for
from tests.firmware.noc import Noc, NodeSpec, one_result

pytestmark = pytest.mark.firmware
BASE = NodeSpec("fw-push", slot=2)
SSH_PORT_HEX = "0016"  # /proc/net/tcp writes ports in hex: 22
NEW_SSH_PORT, NEW_SSH_PORT_HEX = 2222, "08AE"


@pytest.fixture(scope="module")
def noc(firmware: Firmware, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Noc]:
    with firmware.booted(202) as router:
        noc = Noc(router, tmp_path_factory.mktemp("push") / "inventory")
        noc.write(BASE)
        run, result = noc.push("--accept-new-host-keys", "--confirm-timeout", "20")
        assert result["result"] == "applied", run.stdout + run.stderr
        assert router.applied() == (1, False)
        # the confirm stopped the rollback timer: its shell and its sleep
        processes = router.console("ps w")
        assert "rollback.sh timer" not in processes, processes
        assert "sleep 20" not in processes, processes
        yield noc


def last_rollback(router: Router) -> list[str]:
    """The router's own record of its last rollback: [time, why, backup]."""
    record = router.flash("/etc/meshkeeper/rollbacks.log")
    lines = record.read_text().splitlines() if record.exists() else []
    return lines[-1].split() if lines else []


def listeners(router: Router, address: str, port: int) -> set[str]:
    """Local TCP ports in LISTEN state (hex, as /proc/net/tcp writes them), over SSH."""
    out = router.ssh(address, "cat /proc/net/tcp /proc/net/tcp6", port=port)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    return {row[1].rsplit(":", 1)[1] for row in rows if len(row) > 3 and row[3] == "0A"}


def ssh_keeps_answering(router: Router, address: str, port: int) -> None:
    """The bug this guards against: a push confirmed a config that killed SSH a second
    later (the old dropbear still served while procd's reload was on its way)."""
    for second in range(1, 4):  # procd restarts services about 1 s after reload_config
        time.sleep(1)
        assert router.answers_ssh(address, port), (
            f"SSH at {address}:{port} stopped answering {second} s after the push returned"
        )


def test_config_that_cuts_management_is_rolled_back_by_the_routers_timer(noc: Noc) -> None:
    router, address = noc.router, noc.address(BASE)
    # the NOC's cable is on eth0; this config expects it on eth1 (unplugged)
    noc.write(replace(BASE, noc_port="eth1"))
    run, result = noc.push("--confirm-timeout", "20")
    assert run.returncode == 1, run.stdout + run.stderr
    assert (result["result"], result["generation"]) == ("rolled_back", 1), result
    state = noc.status(BASE.name)
    assert (state["status"], state["generation"]) == ("rolled_back", 1), state

    assert router.applied() == (1, False)
    assert router.answers_ssh(address)
    assert "option device 'eth0'" in router.console("uci export network | grep -A1 \"'noc'\"")
    why = last_rollback(router)
    assert why[1:] == ["timer", "gen-1.tar"], why
    noc.write(BASE)


def test_power_cut_in_the_confirm_window_boots_the_previous_generation(noc: Noc) -> None:
    router, address = noc.router, noc.address(BASE)
    before = router.applied().generation
    pending = router.flash("/etc/meshkeeper/pending")
    record = router.flash("/etc/meshkeeper/applied.json")
    noc.write(replace(BASE, timezone="Europe/Berlin"))
    with subprocess.Popen(
        # the power cut comes within seconds, long before this timer would fire
        noc.push_command("--confirm-timeout", "30"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as push:

        def installed_not_confirmed() -> bool:
            assert push.poll() is None, f"the push ended before the power cut: {push.stdout}"
            try:
                new = json.loads(record.read_text())["generation"] == before + 1
            except (OSError, ValueError):
                return False
            return new and pending.exists()

        try:
            wait_for(installed_not_confirmed, 60, step=0.02)
            zone = router.console("uci get system.@system[0].zonename").strip()
            assert zone == "Europe/Berlin"
            router.power_cut()
            stdout, stderr = push.communicate(timeout=240)
        finally:
            if push.poll() is None:
                push.kill()
                push.communicate()

    # the boot hook found the marker and restored the previous generation
    assert router.flash("/etc/rc.d/S11meshkeeper-rollback").exists()
    assert router.applied() == (before, False)
    assert router.console("uci get system.@system[0].zonename").strip() == "Africa/Nairobi"
    why = last_rollback(router)
    assert why[1:] == ["boot", f"gen-{before}.tar"], why
    wait_for(lambda: router.answers_ssh(address), 30)
    # and the controller says so: never `applied`
    result = one_result(stdout, stderr)
    assert push.returncode == 1, stdout + stderr
    assert (result["result"], result["generation"]) == ("rolled_back", before), result
    assert result["error"], result
    assert noc.status(BASE.name)["status"] == "rolled_back"
    noc.write(BASE)


def test_pushes_restarting_every_service_run_and_keep_ssh(noc: Noc) -> None:
    """system (hostname), network and dhcp (a second uplink, LAN DHCP off) and the
    firewall (its wan zone) in one push; then dropbear and the firewall (the SSH port).
    A new port is a new address to reach the router at: that goes through `adopt`
    (README, "Which address the controller uses")."""
    router, address = noc.router, noc.address(BASE)
    before = router.applied().generation
    renamed = replace(BASE, name="fw-push-moved", static_uplink=True, lan_dhcp=False)
    noc.write(renamed)
    run, result = noc.push("--confirm-timeout", "20")
    assert run.returncode == 0, run.stdout + run.stderr
    assert (result["result"], result["generation"]) == ("applied", before + 1), result
    assert set(result["changed"]) >= {"dhcp", "firewall", "network", "system"}, result
    ssh_keeps_answering(router, address, 22)
    running = router.ssh(
        address,
        "cat /proc/sys/kernel/hostname; echo '--'; ip -4 -o addr show dev eth1; echo '--';"
        " cat /var/etc/dnsmasq.conf.*",
    )
    assert running.returncode == 0, running.stderr
    hostname, eth1, dnsmasq = running.stdout.split("--\n")
    assert hostname.strip() == renamed.name
    assert " 192.0.2.2/30 " in eth1, eth1  # netifd brought the static uplink up
    assert "no-dhcp-interface=eth1" in dnsmasq, dnsmasq  # and dnsmasq serves no DHCP there

    moved = replace(renamed, ssh_port=NEW_SSH_PORT)
    noc.write(moved)
    run = noc.meshkeeper(
        "adopt",
        moved.name,
        "--via",
        address,
        "--via-port",
        "22",
        "--confirm-timeout",
        "20",
        "--json",
    )
    result = one_result(run.stdout, run.stderr)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (result["result"], result["generation"]) == ("applied", before + 2), result
    assert set(result["changed"]) >= {"dropbear", "firewall"}, result
    ssh_keeps_answering(router, address, NEW_SSH_PORT)
    ports = listeners(router, address, NEW_SSH_PORT)
    assert NEW_SSH_PORT_HEX in ports and SSH_PORT_HEX not in ports, ports  # dropbear restarted
    mesh_input = router.ssh(address, "nft list chain inet fw4 input_mesh", port=NEW_SSH_PORT)
    assert f"tcp dport {NEW_SSH_PORT}" in mesh_input.stdout, mesh_input  # fw4 lets the NOC in
    assert router.applied() == (before + 2, False)
    assert noc.status(moved.name)["status"] == "applied"
