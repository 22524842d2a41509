"""lab.shim.ubus and lab.shim.ifstatus: what the lab's `ubus` prints, byte for byte like
OpenWrt 22.03.4's ubus CLI (tests/fixtures/ubus/, recorded on a booted router)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.uci import parse
from lab.shim.ifstatus import (
    ANY,
    IfRoute,
    InterfaceState,
    addresses_by_interface,
    interface_states,
)
from lab.shim.labinfo import DhcpLease, LabInfo
from lab.shim.ubus import (
    NOT_FOUND,
    PARSE_ERROR,
    _named,
    interface_dump,
    interface_status,
    main,
    service,
    ubus_json,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
UBUS = FIXTURES / "ubus"
# A gateway as the renderer writes it (gw-market of the example network, trimmed).
NETWORK = """
config interface 'loopback'
\toption device 'lo'
\toption proto 'static'
\toption ipaddr '127.0.0.1'
\toption netmask '255.0.0.0'

config device 'br_lan'
\toption name 'br-lan'
\toption type 'bridge'
\tlist ports 'lan1'

config interface 'lan'
\toption device 'br-lan'
\toption proto 'static'
\toption ipaddr '10.32.1.1'
\toption netmask '255.255.255.0'

config interface 'wan'
\toption device 'wan'
\toption proto 'dhcp'

config interface 'wan6'
\toption device 'wan'
\toption proto 'dhcpv6'

config interface 'mesh'
\toption proto 'static'
\toption ipaddr '10.31.0.1'
\toption netmask '255.255.255.255'

config interface 'noc'
\toption device 'lan4'
\toption proto 'static'
\toption ipaddr '10.31.0.1'
\toption netmask '255.255.255.255'

config route 'noc_host'
\toption interface 'noc'
\toption target '10.31.255.250'
\toption netmask '255.255.255.255'
"""
WIRELESS = """
config wifi-iface 'mesh0'
\toption device 'radio1'
\toption mode 'mesh'
\toption ifname 'mesh0'
\toption network 'mesh'

config wifi-iface 'ap0_radio0'
\toption device 'radio0'
\toption mode 'ap'
\toption network 'lan'
"""
LAB = LabInfo(
    node="gw-market",
    wifi=("wl2", "wl3"),
    wired=(),
    dhcp={"wan": DhcpLease("100.64.128.6/30", "100.64.128.5")},
)
# what the network shim configured on gw-market (ip -j addr, IPv4 only)
KERNEL = {
    "lo": {"127.0.0.1/8"},
    "br-lan": {"10.32.1.1/24"},
    "wl2": {"10.31.0.1/32"},
    "wl3": {"10.31.0.1/32"},
    "wan": {"100.64.128.6/30"},
    "lan4": {"10.31.0.1/32"},
}
DHCP_WAN = parse(
    "config interface 'wan'\n\toption device 'wan'\n\toption proto 'dhcp'\n", package="network"
)


def recorded(name: str) -> str:
    return (UBUS / name).read_text()


@pytest.mark.parametrize("name", sorted(p.name for p in UBUS.glob("*.json")))
def test_format_is_byte_for_byte_the_ubus_cli(name: str) -> None:
    text = recorded(name)
    assert ubus_json(json.loads(text)) + "\n" == text


def test_strings_are_escaped_as_libubox_does() -> None:
    assert ubus_json('a"b\\c\n\t\x01/é') == '"a\\"b\\\\c\\n\\t\\u0001/é"'
    assert ubus_json({"x": [], "y": {}}) == '{\n\t"x": [\n\t\t\n\t],\n\t"y": {\n\t\t\n\t}\n}'


def states(kernel: dict[str, set[str]] = KERNEL) -> dict[str, InterfaceState]:
    network = parse(NETWORK, package="network")
    wireless = parse(WIRELESS, package="wireless")
    return {s.name: s for s in interface_states(network, wireless, LAB, kernel)}


def test_interfaces_as_the_network_shim_configured_them() -> None:
    found = states()
    assert list(found) == ["lan", "loopback", "mesh", "noc", "wan", "wan6"]  # sorted, as netifd
    assert found["wan6"].available and not found["wan6"].up  # the lab hands out no IPv6 lease
    assert found["mesh"].present == ("wl2", "wl3") and found["mesh"].addresses == ("10.31.0.1/32",)
    assert found["noc"].routes == (IfRoute("10.31.255.250", 32, ANY, f"{ANY}/0"),)
    assert found["wan"].routes == (IfRoute(ANY, 0, "100.64.128.5", "100.64.128.6/32"),)
    assert addresses_by_interface(list(found.values())) == {
        "lan": ["10.32.1.1"],
        "loopback": ["127.0.0.1"],
        "mesh": ["10.31.0.1"],
        "noc": ["10.31.0.1"],
        "wan": ["100.64.128.6"],
    }


def test_missing_device_or_address_or_lease() -> None:
    kernel = {k: v for k, v in KERNEL.items() if k != "lan4"}
    kernel["br-lan"] = set()  # the shim has not put the address there (yet)
    found = states(kernel)
    assert not found["noc"].available and not found["noc"].up
    assert found["lan"].up and found["lan"].addresses == ()
    without_lease = LabInfo(node="x", wifi=(), wired=())
    (wan,) = interface_states(DHCP_WAN, None, without_lease, KERNEL)
    assert wan.available and not wan.up
    assert addresses_by_interface([wan, found["noc"], found["lan"]]) == {"lan": []}


def recorded_interface(name: str) -> dict[str, object]:
    dump = json.loads(recorded("network.interface-dump.json"))
    return next(i for i in dump["interface"] if i["interface"] == name)  # type: ignore[no-any-return]


def test_up_interface_has_netifds_keys_in_its_order() -> None:
    real = list(recorded_interface("lan"))
    ours = interface_status(states()["lan"])
    assert list(ours) == [k for k in real if k not in ("uptime", "updated")]
    assert ours["ipv4-address"] == [{"address": "10.32.1.1", "mask": 24}]
    assert ours["l3_device"] == ours["device"] == "br-lan"
    assert ours["inactive"] == recorded_interface("lan")["inactive"]


def test_down_and_deviceless_interfaces_look_like_netifds() -> None:
    no_device = interface_status(states({})["noc"])
    real = recorded_interface("nodev")
    keys = list(real)  # an interface whose configured device is missing names it after proto
    keys.insert(keys.index("proto") + 1, "device")
    assert list(no_device) == keys
    assert no_device["errors"] == real["errors"]
    (wan,) = interface_states(DHCP_WAN, None, LabInfo(node="x", wifi=(), wired=()), KERNEL)
    assert interface_status(wan) == {
        k: v for k, v in recorded_interface("wan").items() if k != "device"
    } | {"device": "wan"}
    assert "interface" in interface_dump([wan])


def test_service_with_no_live_instance_is_an_empty_object() -> None:
    real = json.loads(recorded("service-list-name-dropbear-disabled.json"))
    assert {"dropbear": service({})} == real
    services = {"babeld": service({}), "dropbear": service({"instance1": {"running": True}})}
    assert _named(services, {"name": "dropbear"}) == {"dropbear": services["dropbear"]}
    nosuch = json.loads(recorded("service-list-name-nosuch.json"))
    assert _named(services, {"name": "nosuch"}) == nosuch
    assert _named(services, {}) == services


def test_unknown_calls_fail_like_ubus(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["call", "nosuch.object", "dump"], LAB) == NOT_FOUND
    assert capsys.readouterr().err == recorded("call-unknown-object.stderr")
    assert main(["call", "service", "delete"], LAB) == NOT_FOUND
    assert main(["call", "service", "list", "notjson"], LAB) == PARSE_ERROR
    assert "(Parsing message data failed)" in capsys.readouterr().err
    assert main(["list"], LAB) == 2
