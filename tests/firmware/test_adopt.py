"""Adopting a router fresh from the factory: it answers at its factory address, the
inventory plans another one; after `meshkeeper adopt` it runs meshkeeper's config
at the planned address and nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.firmware.conftest import Firmware
from tests.firmware.noc import Noc, NodeSpec, one_result

pytestmark = pytest.mark.firmware
SPEC = NodeSpec("fw-adopt", slot=3)


@pytest.fixture(scope="module")
def noc(firmware: Firmware, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Noc]:
    with firmware.booted(201) as router:
        noc = Noc(router, tmp_path_factory.mktemp("adopt") / "inventory")
        noc.write(SPEC)
        yield noc


def test_adopt_moves_a_factory_router_to_its_planned_address(noc: Noc) -> None:
    router, planned = noc.router, noc.address(SPEC)
    assert router.answers_ssh(router.factory_address)
    assert f" {planned}/" not in router.console("ip -4 -o addr show dev eth0")

    adopt = noc.meshkeeper(
        "adopt",
        SPEC.name,
        "--via",
        router.factory_address,
        "--accept-new-host-keys",
        "--confirm-timeout",
        "20",
        "--json",
    )
    # `applied` means the new config runs, not that it will: procd applies it asynchronously
    running = router.console("cat /proc/sys/kernel/hostname").strip()
    result = one_result(adopt.stdout, adopt.stderr)
    assert adopt.returncode == 0, adopt.stdout + adopt.stderr
    assert (result["result"], result["generation"]) == ("applied", 1), result
    state = noc.status(SPEC.name)
    assert (state["status"], state["generation"]) == ("applied", 1), state

    # the router is where the inventory plans it, and only there
    eth0 = router.console("ip -4 -o addr show dev eth0")
    assert f" {planned}/32 " in eth0 and f" {router.factory_address}/" not in eth0, eth0
    checks = router.ssh(
        planned,
        "cat /etc/meshkeeper/applied.json; echo '--';"
        " test -e /etc/meshkeeper/pending && echo pending-marker; echo '--';"
        " ubus call service list '{\"name\":\"dropbear\"}'; echo '--';"
        " uci get system.@system[0].hostname; echo '--';"
        " fw4 check 2>&1 && echo fw4-ok",
    )
    assert checks.returncode == 0, checks.stdout + checks.stderr
    record, pending, services, hostname, fw4 = checks.stdout.split("--\n")
    assert json.loads(record)["generation"] == 1
    assert "pending-marker" not in pending
    instances = json.loads(services)["dropbear"]["instances"]
    assert any(i.get("running") for i in instances.values()), services
    assert hostname.strip() == SPEC.name
    assert running == SPEC.name, f"adopt said applied while the router ran hostname {running!r}"
    assert "fw4-ok" in fw4, fw4

    # adopt recorded the host key for the planned address: no --accept-new-host-keys now
    again, result = noc.push("--confirm-timeout", "20")
    assert again.returncode == 0 and result["result"] == "unchanged", again.stdout + again.stderr
    assert router.applied().generation == 1
