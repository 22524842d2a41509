"""lab.shim.dropbear_conf: /etc/config/dropbear → the listeners OpenWrt's init script starts.

Expected commands follow /etc/init.d/dropbear of OpenWrt 22.03.4 flag by flag;
the stock one is compared with what that router's procd really listed
(tests/fixtures/ubus/service-list-name-dropbear.json). The section-skipping
cases (no address, bad Port, disabled, numbering) were seen on the same router
(tests/fixtures/ubus/PROVENANCE.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.uci import parse
from lab.shim.dropbear_conf import (
    DropbearInstance,
    dropbear_instances,
    sshd_options,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
STOCK = """
config dropbear
\toption PasswordAuth 'on'
\toption RootPasswordAuth 'on'
\toption Port '22'
"""


def instances(
    text: str, addresses: dict[str, list[str]] | None = None, files: tuple[str, ...] = ()
) -> tuple[list[DropbearInstance], list[str]]:
    package = parse(text, package="dropbear")
    return dropbear_instances(package, addresses or {}, file_exists=lambda path: path in files)


def test_stock_config_gives_the_command_procd_listed_on_a_real_router() -> None:
    real = json.loads((FIXTURES / "ubus" / "service-list-name-dropbear.json").read_text())
    found, notes = instances(STOCK)
    assert notes == []
    assert [i.name for i in found] == ["instance1"]
    assert found[0].command == tuple(real["dropbear"]["instances"]["instance1"]["command"])
    assert found[0].listen == ("0.0.0.0:22",)


def test_interface_binds_its_addresses_only() -> None:
    """What meshkeeper's renderer wrote until it dropped `option Interface`."""
    text = (
        "config dropbear 'mesh'\n\toption PasswordAuth 'off'\n\toption RootPasswordAuth 'off'\n"
        "\toption RootLogin '1'\n\toption Port '22'\n\toption Interface 'mesh'\n"
    )
    found, notes = instances(text, {"mesh": ["10.31.0.1"], "lan": ["10.32.1.1"]})
    assert notes == []
    assert found == [
        DropbearInstance(
            "instance1",
            22,
            ("10.31.0.1",),
            (
                "/usr/sbin/dropbear",
                "-F",
                "-P",
                "/var/run/dropbear.1.pid",
                "-s",
                "-g",
                "-p",
                "10.31.0.1:22",
                "-K",
                "300",
                "-T",
                "3",
            ),
            root_login=True,
        )
    ]
    assert found[0].listen == ("10.31.0.1:22",)


def test_every_address_of_the_interface_once() -> None:
    text = "config dropbear\n\toption Interface 'lan'\n\toption Port '2222'\n"
    found, _ = instances(text, {"lan": ["10.0.0.1", "10.0.1.1", "10.0.0.1"]})
    assert found[0].listen == ("10.0.0.1:2222", "10.0.1.1:2222")
    assert found[0].command[-8:-4] == ("-p", "10.0.0.1:2222", "-p", "10.0.1.1:2222")


@pytest.mark.parametrize("interface", ["nonexistent", "wan"])
def test_interface_without_address_gets_no_listener(interface: str) -> None:
    text = f"config dropbear\n\toption Interface '{interface}'\n"
    found, notes = instances(text, {"lan": ["10.0.0.1"], "wan": []})
    assert found == []
    assert notes == [f"interface {interface} has no physdev or physdev has no suitable ip"]


@pytest.mark.parametrize("value", ["0", "off", "false", "no", "disabled", "OFF"])
def test_disabled_section_gets_no_listener(value: str) -> None:
    assert instances(f"config dropbear\n\toption enable '{value}'\n") == ([], [])


@pytest.mark.parametrize(
    "option",
    [
        "option Port 'abc'",
        "option Port '70000'",
        "option Port '-1'",
        "option enable 'maybe'",
        "option SSHKeepAlive '5s'",
        "list Port '22'",
        "option BannerFile '/etc/missing-banner'",
    ],
)
def test_invalid_section_gets_no_listener(option: str) -> None:
    assert instances(f"config dropbear\n\t{option}\n") == ([], ["validation failed"])


def test_numbering_counts_started_instances_only() -> None:
    """As on the real router: lan, wan (no address), a third section → instance1, instance2."""
    text = (
        "config dropbear\n\toption Interface 'lan'\n"
        "config dropbear 'second'\n\toption Port '2200'\n\toption Interface 'wan'\n"
        "config dropbear 'third'\n\toption Port '2201'\n"
    )
    found, notes = instances(text, {"lan": ["10.99.9.2"]})
    assert [(i.name, i.listen) for i in found] == [
        ("instance1", ("10.99.9.2:22",)),
        ("instance2", ("0.0.0.0:2201",)),
    ]
    assert found[1].command[:4] == ("/usr/sbin/dropbear", "-F", "-P", "/var/run/dropbear.2.pid")
    assert notes == ["interface wan has no physdev or physdev has no suitable ip"]


def test_options_become_dropbear_flags() -> None:
    text = (
        "config dropbear\n\toption RootLogin '0'\n\toption GatewayPorts 'yes'\n"
        "\toption BannerFile '/etc/banner'\n\toption IdleTimeout '60'\n"
        "\toption SSHKeepAlive '0'\n\toption MaxAuthTries '0'\n\toption RecvWindowSize '65536'\n"
    )
    found, _ = instances(text, files=("/etc/banner",))
    assert found[0].command[4:] == (
        "-a", "-w", "-b", "/etc/banner", "-p", "22", "-I", "60", "-W", "65536",
    )  # fmt: skip
    assert found[0].root_login is False


def test_no_package_no_sections_no_listener() -> None:
    assert dropbear_instances(None, {}) == ([], [])
    assert instances("config other 'x'\n") == ([], [])


def test_sshd_options_bind_exactly_and_keep_root_out_when_asked() -> None:
    found, _ = instances("config dropbear\n\toption Interface 'mesh'\n", {"mesh": ["10.31.0.7"]})
    assert sshd_options(found[0], "/tmp/run/sshd.instance1.pid") == [
        "-o",
        "PidFile=/tmp/run/sshd.instance1.pid",
        "-o",
        "ListenAddress=10.31.0.7:22",
    ]
    closed, _ = instances("config dropbear\n\toption RootLogin 'off'\n")
    assert sshd_options(closed[0], "/p")[-4:] == [
        "-o",
        "ListenAddress=0.0.0.0:22",
        "-o",
        "PermitRootLogin=no",
    ]
