"""IPv6 as a factory OpenWrt router has it: ULA, LAN prefix, wan6, odhcpd, wan rules.

Stock values are OpenWrt's own: base-files' config_generate (globals,
ip6assign '60', `<uplink>6` with proto dhcpv6), odhcpd.defaults (the odhcpd
section, ra/dhcpv6 server, ra_slaac and ra_flags; 19.07's odhcpd knows only
ra_management) and firewall4's shipped config (the IPv6 rules of the wan zone).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.errors import InventoryError
from controller.model.load import load_inventory
from controller.model.plan import ula_prefix
from controller.model.schema import Addressing
from controller.render.tree import RenderedFile, render_inventory
from controller.render.xref import reference_problems
from tests.unit.test_render import _named, _uci


def _render(folder: Path) -> dict[str, list[RenderedFile]]:
    return render_inventory(load_inventory(folder, resolve_secrets=True))


def _set(folder: Path, file: str, edit: Callable[[dict[str, Any]], object]) -> None:
    path = folder / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_ula_is_fd_and_40_bits_of_the_names_sha256() -> None:
    digest = hashlib.sha256(b"riverside").digest()[:5]
    expected = ipaddress.IPv6Network((b"\xfd" + digest + bytes(10), 48))
    assert ula_prefix("riverside", Addressing()) == expected
    assert str(expected) == "fd12:aea5:f4cd::/48"
    assert ula_prefix("riverside", Addressing(ula="fd00:1:2::/48")) == ipaddress.IPv6Network(
        "fd00:1:2::/48"
    )
    assert ula_prefix("hillside", Addressing()) != expected  # one per network


def test_every_node_shares_the_networks_ula_and_assigns_a_60(example_copy: Path) -> None:
    for files in _render(example_copy).values():
        network = _uci(files, "network")
        assert _named(network, "globals").options == {"ula_prefix": "fd12:aea5:f4cd::/48"}
        assert network.sections[1].type == "globals"  # after loopback, as config_generate
        assert _named(network, "lan").options["ip6assign"] == "60"


def test_inventory_ula_is_rendered(example_copy: Path) -> None:
    _set(example_copy, "network.yaml", lambda d: d["addressing"].update(ula="fd5e:12ab:9c00::/48"))
    for files in _render(example_copy).values():
        assert _named(_uci(files, "network"), "globals").options["ula_prefix"] == (
            "fd5e:12ab:9c00::/48"
        )


@pytest.mark.parametrize(
    ("ula", "what"),
    [
        ("2001:db8:7::/48", "is not a unique local prefix (fc00::/7)"),
        ("fd5e:12ab:9c00::/56", "write the /48 it belongs to, fd5e:12ab:9c00::/48"),
        ("fd5e::/40", "write one /48 of it"),
        ("fd5e:12ab:9c00::1/48", "is not an IPv6 network"),
        ("fd5e:12ab:9c00::", "is a /128"),
    ],
)
def test_a_bad_ula_is_refused(example_copy: Path, ula: str, what: str) -> None:
    _set(example_copy, "network.yaml", lambda d: d["addressing"].update(ula=ula))
    with pytest.raises(InventoryError) as caught:
        load_inventory(example_copy, resolve_secrets=True)
    (problem,) = caught.value.problems
    assert problem.field == "addressing.ula"
    assert what in f"{problem.what} — {problem.todo}"


def test_wan6_beside_each_uplink_as_config_generate_writes_it(example_copy: Path) -> None:
    rendered = _render(example_copy)
    market = _uci(rendered["gw-market"], "network")  # dhcp: DHCPv6 on the port itself
    assert _named(market, "wan6").options == {"device": "wan", "proto": "dhcpv6"}
    names = [s.name for s in market.sections]
    assert names.index("wan6") == names.index("wan") + 1
    school = _uci(rendered["gw-school"], "network")  # static IPv4; IPv6 from the ISP
    assert _named(school, "wan6").options == {"device": "wan", "proto": "dhcpv6"}
    for name in ("gw-market", "gw-school"):
        zone = _named(_uci(rendered[name], "firewall"), "wan").options
        assert zone["network"] == ["wan", "wan6"]
    leaf = _uci(rendered["leaf-bus-stop"], "network")
    assert all(s.options.get("proto") != "dhcpv6" for s in leaf.sections)


def _uplinks(folder: Path, node: str, uplinks: list[dict[str, object]], **more: object) -> None:
    _set(folder, "nodes.yaml", lambda d: d["nodes"][node].update(uplinks=uplinks, **more))


def test_pppoe_uplink_gets_an_alias_and_no_second_dhcpv6_client(example_copy: Path) -> None:
    (example_copy / "secrets" / "ppp.pass").write_text("hunter22\n")
    _uplinks(
        example_copy,
        "gw-market",
        [
            {"isp": "isp-fibre", "proto": "pppoe", "port": "wan", "username": "market",
             "password": {"file": "secrets/ppp.pass"}},
            {"isp": "isp-lte", "proto": "dhcp", "port": "lan3"},
        ],
    )  # fmt: skip
    files = _render(example_copy)["gw-market"]
    network = _uci(files, "network")
    wan = _named(network, "wan").options
    # ipv6 '1', not ppp.sh's default 'auto', which would start a `wan_6` of its own.
    assert wan["ipv6"] == "1"
    assert _named(network, "wan6").options == {"device": "@wan", "proto": "dhcpv6"}
    assert _named(network, "wan26").options == {"device": "lan3", "proto": "dhcpv6"}
    zone = _named(_uci(files, "firewall"), "wan").options
    assert zone["network"] == ["wan", "wan6", "wan2", "wan26"]


def test_19_07_names_devices_with_ifname(example_copy: Path) -> None:
    _uplinks(
        example_copy,
        "leaf-library",
        [{"isp": "isp-lte", "proto": "dhcp", "port": "eth0.2"}],
        role="gateway",
    )
    files = _render(example_copy)["leaf-library"]
    assert _named(_uci(files, "network"), "wan6").options == {
        "ifname": "eth0.2",
        "proto": "dhcpv6",
    }


def test_odhcpd_serves_the_lan_as_odhcpd_defaults_sets_it_up(example_copy: Path) -> None:
    rendered = _render(example_copy)
    for name, files in rendered.items():
        dhcp = _uci(files, "dhcp")
        assert _named(dhcp, "odhcpd").options == {
            "maindhcp": "0",  # dnsmasq stays the DHCPv4 server
            "leasefile": "/tmp/hosts/odhcpd",
            "leasetrigger": "/usr/sbin/odhcpd-update",
            "loglevel": "4",
        }
        lan = _named(dhcp, "lan").options
        assert (lan["dhcpv6"], lan["ra"]) == ("server", "server")
        if name == "leaf-library":  # 19.07: odhcpd's openwrt-19.07 branch has no ra_flags
            assert lan["ra_management"] == "1" and "ra_flags" not in lan
        else:
            assert lan["ra_slaac"] == "1"
            assert lan["ra_flags"] == ["managed-config", "other-config"]
            assert "ra_management" not in lan


STOCK_WAN_IPV6 = {
    "allow_dhcpv6": {
        "name": "Allow-DHCPv6",
        "src": "wan",
        "proto": "udp",
        "dest_port": "546",
        "family": "ipv6",
        "target": "ACCEPT",
    },
    "allow_mld": {
        "name": "Allow-MLD",
        "src": "wan",
        "proto": "icmp",
        "src_ip": "fe80::/10",
        "icmp_type": ["130/0", "131/0", "132/0", "143/0"],
        "family": "ipv6",
        "target": "ACCEPT",
    },
    "allow_icmpv6_input": {
        "name": "Allow-ICMPv6-Input",
        "src": "wan",
        "proto": "icmp",
        "icmp_type": [
            "echo-request",
            "echo-reply",
            "destination-unreachable",
            "packet-too-big",
            "time-exceeded",
            "bad-header",
            "unknown-header-type",
            "router-solicitation",
            "neighbour-solicitation",
            "router-advertisement",
            "neighbour-advertisement",
        ],
        "limit": "1000/sec",
        "family": "ipv6",
        "target": "ACCEPT",
    },
    "allow_icmpv6_forward": {
        "name": "Allow-ICMPv6-Forward",
        "src": "wan",
        "dest": "*",
        "proto": "icmp",
        "icmp_type": [
            "echo-request",
            "echo-reply",
            "destination-unreachable",
            "packet-too-big",
            "time-exceeded",
            "bad-header",
            "unknown-header-type",
        ],
        "limit": "1000/sec",
        "family": "ipv6",
        "target": "ACCEPT",
    },
}


def test_gateways_get_the_stock_ipv6_wan_rules(example_copy: Path) -> None:
    for name, files in _render(example_copy).items():
        rules = {s.name: s.options for s in _uci(files, "firewall").sections if s.type == "rule"}
        found = {k: v for k, v in rules.items() if k in STOCK_WAN_IPV6}
        assert found == (STOCK_WAN_IPV6 if name.startswith("gw-") else {})


def test_rendered_ipv6_cross_references_hold(example_copy: Path) -> None:
    for files in _render(example_copy).values():
        packages = {
            f.path.rsplit("/", 1)[1]: _uci(files, f.path.rsplit("/", 1)[1])
            for f in files
            if f.path.startswith("etc/config/")
        }
        assert reference_problems(packages) == []
