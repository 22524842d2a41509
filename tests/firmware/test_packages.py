"""A config the router's firmware cannot run is refused before anything changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firmware.conftest import Firmware, Router
from tests.firmware.noc import Noc, NodeSpec

pytestmark = pytest.mark.firmware
# a babel mesh over the (unplugged) eth1: this firmware has no babeld package
BABEL = NodeSpec("fw-babel", slot=2, babel_port="eth1")
SNAPSHOT = (
    "cd /etc && sha256sum config/* dropbear/authorized_keys; ls -a /etc/meshkeeper;"
    " ls /etc/rc.d | grep meshkeeper; ls -d /tmp/meshkeeper*; true"
)


@pytest.fixture(scope="module")
def router(firmware: Firmware) -> Iterator[Router]:
    with firmware.booted(203) as router:
        yield router


def test_babel_node_on_firmware_without_babeld_is_refused_untouched(
    router: Router, tmp_path: Path
) -> None:
    noc = Noc(router, tmp_path / "inventory")
    noc.write(BABEL)
    assert router.console("opkg list-installed | grep -c babeld; true").strip() == "0"
    before = router.console(SNAPSHOT)

    run, result = noc.push("--accept-new-host-keys", "--confirm-timeout", "20")
    assert run.returncode == 1, run.stdout + run.stderr
    assert result["result"] == "failed", result
    assert "babeld" in (result["error"] or ""), result

    assert router.console(SNAPSHOT) == before
    assert router.applied() == (0, False)
    assert router.answers_ssh(router.factory_address)
