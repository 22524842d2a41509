"""`babeld`: babel on the mesh devices, redistributing only what this node owns.

babeld redistributes every local address by default; here the filters say
exactly what leaves the node (first match wins): its LAN, its mesh and
management /32s, the NOC's /32 on the entry node, a default route on
gateways (at a higher metric than a direct path), and nothing else.
The local socket is read-only (the agent reads `dump`; read-write would let
any local process inject routes, ../shared/FIELD-NOTES.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from controller.render.context import BABEL_LOCAL_PORT, MESH_IFNAME, NodeContext, section, uci_name
from controller.render.network import has_mgmt
from controller.uci import Section

PACKAGE = "babeld"
DEFAULT_ROUTE_METRIC = 128


def render(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    if not ctx.meshed or ctx.protocol != "babel":
        return
    yield (
        PACKAGE,
        section("general", "general", ipv6_subtrees="true", local_port=BABEL_LOCAL_PORT),
    )
    if ctx.mesh_wifi:
        yield PACKAGE, section("interface", "mesh0", ifname=MESH_IFNAME, type="wireless")
    for port in ctx.mesh_ports:
        yield PACKAGE, section("interface", f"wired_{uci_name(port)}", ifname=port, type="wired")
    yield from _filters(ctx)


def _filters(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    lan = ctx.plan.lan_subnet
    own = [("lan", str(lan), lan.prefixlen), ("mesh_address", f"{ctx.plan.mesh_address}/32", 32)]
    if has_mgmt(ctx):
        own.append(("management", f"{ctx.plan.management}/32", 32))
    if ctx.is_noc_entry:
        own.append(("noc", f"{ctx.inv.noc.address}/32", 32))
    for name, prefix, length in own:
        yield (
            PACKAGE,
            section(
                "filter",
                f"redistribute_{name}",
                type="redistribute",
                ip=prefix,
                eq=length,
                action="allow",
            ),
        )
    if ctx.gateway:
        yield (
            PACKAGE,
            section(
                "filter",
                "redistribute_default",
                type="redistribute",
                ip="0.0.0.0/0",
                eq=0,
                action=f"metric {DEFAULT_ROUTE_METRIC}",
            ),
        )
    yield (
        PACKAGE,
        section("filter", "deny_other_local", type="redistribute", local="true", action="deny"),
    )
    yield PACKAGE, section("filter", "deny_other", type="redistribute", action="deny")
