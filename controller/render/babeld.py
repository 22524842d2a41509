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
    # babeld matches an interface's own address only with a `local` filter, and a
    # route (the LAN's, the NOC's) only without one (babeld's filter_match).
    own = [
        ("lan", str(lan), lan.prefixlen, None),
        ("mesh_address", f"{ctx.plan.mesh_address}/32", 32, "true"),
    ]
    if has_mgmt(ctx):
        own.append(("management", f"{ctx.plan.management}/32", 32, "true"))
    if ctx.is_noc_entry:
        own.append(("noc", f"{ctx.inv.noc.address}/32", 32, None))
    for name, prefix, length, local in own:
        yield (
            PACKAGE,
            section(
                "filter",
                f"redistribute_{name}",
                type="redistribute",
                local=local,
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
        # A filter without `proto` skips proto-boot routes, which some DHCP
        # clients install: match those explicitly too.
        yield (
            PACKAGE,
            section(
                "filter",
                "redistribute_default_boot",
                type="redistribute",
                ip="0.0.0.0/0",
                eq=0,
                proto=3,
                action=f"metric {DEFAULT_ROUTE_METRIC}",
            ),
        )
    yield (
        PACKAGE,
        section("filter", "deny_other_local", type="redistribute", local="true", action="deny"),
    )
    yield PACKAGE, section("filter", "deny_other", type="redistribute", action="deny")
