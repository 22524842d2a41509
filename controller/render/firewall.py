"""`firewall`: zones lan / mesh / wan, forwardings, and who may reach SSH and the agent.

fw3 (19.07, 21.02) and fw4 (22.03+) read the same UCI; what differs is the
daemon, so the file is the same shape for both, with explicit policies
rather than each generation's shipped defaults (fw3 ships input ACCEPT, fw4
REJECT). SSH and the agent port are accepted from the mesh zone (mesh links,
management, the NOC) and rejected from the LAN, before the LAN's ACCEPT.
"""

from __future__ import annotations

from collections.abc import Iterator

from controller.render.context import NodeContext, section
from controller.render.network import LAN, mesh_zone_networks
from controller.uci import Section

PACKAGE = "firewall"
BABEL_PORT = 6696


def render(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    yield (
        PACKAGE,
        section(
            "defaults", None, syn_flood=True, input="REJECT", output="ACCEPT", forward="REJECT"
        ),
    )
    yield (
        PACKAGE,
        section(
            "zone",
            "lan",
            name="lan",
            network=[LAN],
            input="ACCEPT",
            output="ACCEPT",
            forward="ACCEPT",
        ),
    )
    mesh_networks = mesh_zone_networks(ctx)
    if mesh_networks:
        yield (
            PACKAGE,
            section(
                "zone",
                "mesh",
                name="mesh",
                network=mesh_networks,
                input="REJECT",
                output="ACCEPT",
                forward="ACCEPT",
            ),
        )
    if ctx.gateway:
        yield (
            PACKAGE,
            section(
                "zone",
                "wan",
                name="wan",
                network=ctx.uplink_names(),
                input="REJECT",
                output="ACCEPT",
                forward="REJECT",
                masq=True,
                mtu_fix=True,
            ),
        )
    yield from _forwardings(ctx, bool(mesh_networks))
    yield from _rules(ctx, bool(mesh_networks))


def _forwardings(ctx: NodeContext, meshed: bool) -> Iterator[tuple[str, Section]]:
    pairs = [("lan", "mesh"), ("mesh", "lan")] if meshed else []
    if ctx.gateway:
        pairs += [("lan", "wan")] + ([("mesh", "wan")] if meshed else [])
    for src, dest in pairs:
        yield PACKAGE, section("forwarding", f"{src}_{dest}", src=src, dest=dest)


def admin_ports(ctx: NodeContext) -> list[tuple[str, int]]:
    ports = [("ssh", ctx.node.ssh.port)]
    if ctx.node.agent.enabled:
        ports.append(("agent", ctx.node.agent.port))
    return ports


def _rules(ctx: NodeContext, meshed: bool) -> Iterator[tuple[str, Section]]:
    for what, port in admin_ports(ctx):
        yield (
            PACKAGE,
            section(
                "rule",
                f"block_{what}_from_lan",
                name=f"Block-{what}-from-LAN",
                src="lan",
                proto="tcp",
                dest_port=port,
                target="REJECT",
            ),
        )
        if meshed:
            yield (
                PACKAGE,
                section(
                    "rule",
                    f"allow_{what}_from_mesh",
                    name=f"Allow-{what}-from-mesh",
                    src="mesh",
                    proto="tcp",
                    dest_port=port,
                    target="ACCEPT",
                ),
            )
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
        if ctx.protocol == "babel":
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
