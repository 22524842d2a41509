"""`dhcp`: dnsmasq serving each node's LAN.

Gateways resolve through their uplinks; other nodes forward DNS to the
gateways' mesh addresses (they have no upstream of their own).
"""

from __future__ import annotations

from collections.abc import Iterator

from controller.render.context import NodeContext, section
from controller.render.network import LAN
from controller.uci import Section

PACKAGE = "dhcp"


def render(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    gateways = [] if ctx.gateway else _gateway_resolvers(ctx)
    resolvfile = (
        "/tmp/resolv.conf.auto" if ctx.release < (21, 2) else "/tmp/resolv.conf.d/resolv.conf.auto"
    )
    yield (
        PACKAGE,
        section(
            "dnsmasq",
            None,
            domainneeded=True,
            localise_queries=True,
            rebind_protection=True,
            rebind_localhost=True,
            local="/lan/",
            domain="lan",
            expandhosts=True,
            authoritative=True,
            readethers=True,
            leasefile="/tmp/dhcp.leases",
            resolvfile=resolvfile if ctx.gateway else None,
            noresolv=True if gateways else None,
            server=gateways,
            localservice=True,
        ),
    )
    yield (
        PACKAGE,
        section(
            "dhcp",
            LAN,
            interface=LAN,
            start=100,
            limit=150,
            leasetime="12h",
            ignore=True if not ctx.node.lan.dhcp else None,
        ),
    )
    for name in ctx.uplink_names():
        yield PACKAGE, section("dhcp", name, interface=name, ignore=True)


def _gateway_resolvers(ctx: NodeContext) -> list[str]:
    plans = ctx.inv.plan
    return [str(plans[name].mesh_address) for name in ctx.inv.gateway_names]
