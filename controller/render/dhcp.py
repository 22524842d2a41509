"""`dhcp`: dnsmasq serving each node's LAN, odhcpd its IPv6 (RA and DHCPv6).

Gateways resolve through their uplinks; other nodes forward DNS to the
gateways' mesh addresses (they have no upstream of their own).

IPv6 on the LAN is what OpenWrt's odhcpd.defaults sets up on first boot:
router advertisements and DHCPv6 in server mode, SLAAC with the managed and
other-config flags, and the `odhcpd` section with dnsmasq kept as the main
DHCPv4 server. 19.07's odhcpd (its own openwrt-19.07 branch) predates
`ra_flags`/`ra_slaac`; its `ra_management '1'` (its default, written out)
sets the same M, O and A flags.
"""

from __future__ import annotations

from collections.abc import Iterator

from controller.render.context import NodeContext, Value, section
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
            **_lan_ipv6(ctx),
        ),
    )
    for name in ctx.uplink_names():
        yield PACKAGE, section("dhcp", name, interface=name, ignore=True)
    yield (
        PACKAGE,
        section(
            "odhcpd",
            "odhcpd",
            maindhcp=False,  # dnsmasq serves DHCPv4
            leasefile="/tmp/hosts/odhcpd",
            leasetrigger="/usr/sbin/odhcpd-update",
            loglevel=4,
        ),
    )


def _lan_ipv6(ctx: NodeContext) -> dict[str, Value]:
    server: dict[str, Value] = {"dhcpv6": "server", "ra": "server"}
    if ctx.release < (21, 2):
        return server | {"ra_management": 1}
    return server | {"ra_slaac": True, "ra_flags": ["managed-config", "other-config"]}


def _gateway_resolvers(ctx: NodeContext) -> list[str]:
    plans = ctx.inv.plan
    return [str(plans[name].mesh_address) for name in ctx.inv.gateway_names]
