"""`firewall`: zones lan / mesh / wan, forwardings, and who may reach SSH and the agent.

fw3 (19.07, 21.02) and fw4 (22.03+) read the same UCI; what differs is the
daemon, so the file is the same shape for both, with explicit policies
rather than each generation's shipped defaults (fw3 ships input ACCEPT, fw4
REJECT). SSH and the agent port are accepted from the mesh zone (mesh links,
wired mesh ports, management, the NOC) and rejected from the LAN, before the
LAN's ACCEPT; the wan zone rejects all input but what an uplink needs. This
is the fence: dropbear listens on every address (dropbear.py).

The zone table and the admin rules are functions of the node so that
`meshkeeper check` asks them, not a copy of them, whether SSH will be
reachable (controller/model/checks/access.py). On gateways the wan zone gets
the stock IPv6 rules (openwrt/firewall4 root/etc/config/firewall, the same in
fw3's): without DHCPv6 replies, MLD and the essential ICMPv6 types, `wan6`
never gets an address or a prefix.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from controller.render.context import NodeContext, section
from controller.render.network import LAN, mesh_zone_networks, uplink_networks
from controller.uci import Section

PACKAGE = "firewall"
BABEL_PORT = 6696
DEFAULT_INPUT = "REJECT"  # the defaults section's: traffic from a device in no zone
DHCPV6_CLIENT_PORT = 546
ICMPV6_LIMIT = "1000/sec"
ICMPV6_ESSENTIAL = [
    "echo-request",
    "echo-reply",
    "destination-unreachable",
    "packet-too-big",
    "time-exceeded",
    "bad-header",
    "unknown-header-type",
]
ICMPV6_NEIGHBOUR_DISCOVERY = [
    "router-solicitation",
    "neighbour-solicitation",
    "router-advertisement",
    "neighbour-advertisement",
]
MLD_TYPES = ["130/0", "131/0", "132/0", "143/0"]  # query, report, done, report v2


class ZonePolicy(NamedTuple):
    input: str
    forward: str
    masq: bool = False


POLICIES = {
    "lan": ZonePolicy("ACCEPT", "ACCEPT"),
    "mesh": ZonePolicy("REJECT", "ACCEPT"),
    "wan": ZonePolicy("REJECT", "REJECT", masq=True),
}


class AdminRule(NamedTuple):
    """Who may reach an admin port (SSH, the agent) on this node."""

    what: str  # ssh, agent
    port: int
    src: str  # zone
    target: str

    @property
    def section_name(self) -> str:
        verb = "allow" if self.target == "ACCEPT" else "block"
        return f"{verb}_{self.what}_from_{self.src}"

    @property
    def label(self) -> str:
        verb = "Allow" if self.target == "ACCEPT" else "Block"
        return f"{verb}-{self.what}-from-{'LAN' if self.src == 'lan' else self.src}"


def zone_networks(ctx: NodeContext) -> dict[str, list[str]]:
    """Each zone the node has and its logical interfaces, in file order."""
    zones = {"lan": [LAN]}
    mesh = mesh_zone_networks(ctx)
    if mesh:
        zones["mesh"] = mesh
    if ctx.gateway:
        zones["wan"] = uplink_networks(ctx)
    return zones


def admin_ports(ctx: NodeContext) -> list[tuple[str, int]]:
    ports = [("ssh", ctx.node.ssh.port)]
    if ctx.node.agent.enabled:
        ports.append(("agent", ctx.node.agent.port))
    return ports


def admin_rules(ctx: NodeContext) -> list[AdminRule]:
    """Rejected from the LAN (before its input ACCEPT), accepted from the mesh."""
    meshed = bool(mesh_zone_networks(ctx))  # the mesh zone exists
    rules = []
    for what, port in admin_ports(ctx):
        rules.append(AdminRule(what, port, "lan", "REJECT"))
        if meshed:
            rules.append(AdminRule(what, port, "mesh", "ACCEPT"))
    return rules


def tcp_input_verdict(ctx: NodeContext, zone: str | None, port: int) -> str:
    """What the node does with a TCP connection to one of its own addresses on `port`
    arriving from `zone`: the zone's first rule naming the port (only the admin rules
    name TCP ports), else the zone's input policy; from no zone, the defaults'."""
    if zone is None:
        return DEFAULT_INPUT
    for rule in admin_rules(ctx):
        if rule.src == zone and rule.port == port:
            return rule.target
    return POLICIES[zone].input


def render(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    yield (
        PACKAGE,
        section(
            "defaults",
            None,
            syn_flood=True,
            input=DEFAULT_INPUT,
            output="ACCEPT",
            forward="REJECT",
        ),
    )
    zones = zone_networks(ctx)
    for name, networks in zones.items():
        yield PACKAGE, _zone(name, networks)
    meshed = "mesh" in zones
    yield from _forwardings(ctx, meshed)
    for rule in admin_rules(ctx):
        yield PACKAGE, _admin_rule(rule)
    yield from _rules(ctx, meshed)


def _zone(name: str, networks: list[str]) -> Section:
    policy = POLICIES[name]
    return section(
        "zone",
        name,
        name=name,
        network=networks,
        input=policy.input,
        output="ACCEPT",
        forward=policy.forward,
        masq=policy.masq or None,
        mtu_fix=policy.masq or None,  # NAT is where the MSS must be clamped
    )


def _forwardings(ctx: NodeContext, meshed: bool) -> Iterator[tuple[str, Section]]:
    pairs = [("lan", "mesh"), ("mesh", "lan")] if meshed else []
    if ctx.gateway:
        pairs += [("lan", "wan")] + ([("mesh", "wan")] if meshed else [])
    for src, dest in pairs:
        yield PACKAGE, section("forwarding", f"{src}_{dest}", src=src, dest=dest)


def _admin_rule(rule: AdminRule) -> Section:
    return section(
        "rule",
        rule.section_name,
        name=rule.label,
        src=rule.src,
        proto="tcp",
        dest_port=rule.port,
        target=rule.target,
    )


def _rules(ctx: NodeContext, meshed: bool) -> Iterator[tuple[str, Section]]:
    if meshed:
        yield (
            PACKAGE,
            section(
                "rule",
                "allow_ping_mesh",
                name="Allow-Ping-mesh",
                src="mesh",
                proto="icmp",
                target="ACCEPT",
            ),
        )
        if ctx.meshed and ctx.protocol == "babel":
            yield (
                PACKAGE,
                section(
                    "rule",
                    "allow_babel",
                    name="Allow-Babel",
                    src="mesh",
                    proto="udp",
                    dest_port=BABEL_PORT,
                    target="ACCEPT",
                ),
            )
    if ctx.gateway:
        yield from _wan_ipv4_rules()
        yield from _wan_ipv6_rules()


def _wan_ipv4_rules() -> Iterator[tuple[str, Section]]:
    yield (
        PACKAGE,
        section(
            "rule",
            "allow_dhcp_renew",
            name="Allow-DHCP-Renew",
            src="wan",
            proto="udp",
            dest_port=68,
            target="ACCEPT",
            family="ipv4",
        ),
    )
    yield (
        PACKAGE,
        section(
            "rule",
            "allow_ping_wan",
            name="Allow-Ping",
            src="wan",
            proto="icmp",
            icmp_type="echo-request",
            family="ipv4",
            target="ACCEPT",
        ),
    )


def _wan_ipv6_rules() -> Iterator[tuple[str, Section]]:
    """The stock rules, option for option; fw4 dropped the old fc00::/6 limit on
    DHCPv6 replies because ISPs answer from global addresses (openwrt/openwrt#5066)."""
    yield (
        PACKAGE,
        section(
            "rule",
            "allow_dhcpv6",
            name="Allow-DHCPv6",
            src="wan",
            proto="udp",
            dest_port=DHCPV6_CLIENT_PORT,
            family="ipv6",
            target="ACCEPT",
        ),
    )
    yield (
        PACKAGE,
        section(
            "rule",
            "allow_mld",
            name="Allow-MLD",
            src="wan",
            proto="icmp",
            src_ip="fe80::/10",
            icmp_type=MLD_TYPES,
            family="ipv6",
            target="ACCEPT",
        ),
    )
    yield (
        PACKAGE,
        section(
            "rule",
            "allow_icmpv6_input",
            name="Allow-ICMPv6-Input",
            src="wan",
            proto="icmp",
            icmp_type=ICMPV6_ESSENTIAL + ICMPV6_NEIGHBOUR_DISCOVERY,
            limit=ICMPV6_LIMIT,
            family="ipv6",
            target="ACCEPT",
        ),
    )
    yield (
        PACKAGE,
        section(
            "rule",
            "allow_icmpv6_forward",
            name="Allow-ICMPv6-Forward",
            src="wan",
            dest="*",
            proto="icmp",
            icmp_type=ICMPV6_ESSENTIAL,
            limit=ICMPV6_LIMIT,
            family="ipv6",
            target="ACCEPT",
        ),
    )
