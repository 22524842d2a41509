"""`network`: loopback, LAN bridge, uplinks, mesh interfaces, NOC attachment.

19.07 writes `option ifname` (a bridge is `option type 'bridge'` on the
interface); 21.02+ writes `config device` with `list ports` and interfaces
name their `device` (../shared/FIELD-NOTES.md, config generations).

IPv6 is set up as OpenWrt's own first boot does (base-files' config_generate):
a ULA /48 in `globals` (one per network, see plan.ula_prefix), `ip6assign '60'`
on the LAN (odhcpd announces it, see dhcp.py) and a DHCPv6 client `<uplink>6`
beside each uplink, in the wan zone with it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import NamedTuple

from controller.model.schema import Uplink
from controller.render.context import MESH_IFNAME, NodeContext, section, uci_name
from controller.uci import Section

PACKAGE = "network"
LAN = "lan"
MESH = "mesh"
MGMT = "mgmt"
NOC = "noc"
HOST_MASK = "255.255.255.255"
BAT = "bat0"
LAN_IP6ASSIGN = 60  # config_generate's prefix size for a static LAN


class OwnInterface(NamedTuple):
    """A logical interface holding one of the node's own addresses (mesh, management)."""

    name: str
    device: str | None  # None: babel's `mesh`, joined by the 802.11s interface through wireless
    address: ipaddress.IPv4Address
    netmask: str


def has_mgmt(ctx: NodeContext) -> bool:
    """A management address apart from the mesh address lives on its own /32."""
    return ctx.plan.management != ctx.plan.mesh_address


def mesh_port_interface(port: str) -> str:
    return f"mesh_{uci_name(port)}"


def mesh_zone_networks(ctx: NodeContext) -> list[str]:
    """Logical interfaces in the firewall's mesh zone."""
    out = [MESH] if ctx.meshed else []
    if ctx.protocol == "babel":
        out += [mesh_port_interface(port) for port in ctx.mesh_ports]
    if has_mgmt(ctx):
        out.append(MGMT)
    if ctx.is_noc_entry:
        out.append(NOC)
    return out


def uplink6_name(uplink: str) -> str:
    """The DHCPv6 client beside an uplink, named as config_generate names it (`wan6`)."""
    return f"{uplink}6"


def uplink_networks(ctx: NodeContext) -> list[str]:
    """Each uplink's logical interfaces, IPv4 then IPv6: the wan zone's networks."""
    return [name for uplink in ctx.uplink_names() for name in (uplink, uplink6_name(uplink))]


def own_interfaces(ctx: NodeContext) -> list[OwnInterface]:
    """The interfaces carrying the node's mesh and management addresses, in file order."""
    mesh, mask = ctx.plan.mesh_address, ctx.mesh_netmask()
    out: list[OwnInterface] = []
    if ctx.meshed and ctx.protocol == "batman-adv":
        # The L3 mesh address lives on bat0; radios and ports join bat0 (batman_adv.py).
        out.append(OwnInterface(MESH, BAT, mesh, mask))
    elif ctx.meshed:
        # babel: the 802.11s interface joins `mesh` through wireless (network 'mesh');
        # each wired mesh port carries the same /32 as its own interface.
        out.append(OwnInterface(MESH, None, mesh, mask))
        out += [OwnInterface(mesh_port_interface(p), p, mesh, mask) for p in ctx.mesh_ports]
    if has_mgmt(ctx):
        out.append(OwnInterface(MGMT, "lo", ctx.plan.management, HOST_MASK))
    if ctx.is_noc_entry:
        # The NOC hangs off the entry node by cable: a /32 each way, routed into the mesh.
        out.append(OwnInterface(NOC, ctx.inv.noc.port, mesh, HOST_MASK))
    return out


def management_carriers(ctx: NodeContext) -> list[OwnInterface]:
    """The interfaces the management address (where the controller logs in) is on."""
    return [own for own in own_interfaces(ctx) if own.address == ctx.plan.management]


def _device(ctx: NodeContext, name: str) -> dict[str, str]:
    return {"device": name} if ctx.dsa else {"ifname": name}


def render(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    yield (
        PACKAGE,
        section(
            "interface",
            "loopback",
            **_device(ctx, "lo"),
            proto="static",
            ipaddr="127.0.0.1",
            netmask="255.0.0.0",
        ),
    )
    yield PACKAGE, section("globals", "globals", ula_prefix=str(ctx.inv.ula_prefix))
    yield from _switch(ctx)
    yield from _lan(ctx)
    yield from _uplinks(ctx)
    for own in own_interfaces(ctx):
        yield PACKAGE, _own_interface(ctx, own)
    if ctx.is_noc_entry:
        noc = ctx.inv.noc.address
        yield PACKAGE, section("route", "noc_host", interface=NOC, target=noc, netmask=HOST_MASK)


def _own_interface(ctx: NodeContext, own: OwnInterface) -> Section:
    device = _device(ctx, own.device) if own.device is not None else {}
    return section(
        "interface",
        own.name,
        **device,
        proto="static",
        ipaddr=str(own.address),
        netmask=own.netmask,
    )


def _switch(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    switch = ctx.node.switch
    if switch is None:
        return
    yield (
        PACKAGE,
        section("switch", uci_name(switch.name), name=switch.name, reset=True, enable_vlan=True),
    )
    for vlan, ports in sorted(switch.vlans.items()):
        yield (
            PACKAGE,
            section(
                "switch_vlan",
                f"{uci_name(switch.name)}_vlan{vlan}",
                device=switch.name,
                vlan=vlan,
                ports=ports,
            ),
        )


def _lan(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    subnet = ctx.plan.lan_subnet
    addressing: dict[str, str | int] = {
        "proto": "static",
        "ipaddr": str(ctx.plan.lan_address),
        "netmask": str(subnet.netmask),
        "ip6assign": LAN_IP6ASSIGN,
    }
    ports = list(ctx.node.lan.ports)
    if ctx.dsa:
        yield (
            PACKAGE,
            section(
                "device",
                "br_lan",
                name="br-lan",
                type="bridge",
                ports=ports,
                bridge_empty=True if not ports else None,
            ),
        )
        yield PACKAGE, section("interface", LAN, device="br-lan", **addressing)
    else:
        yield (
            PACKAGE,
            section("interface", LAN, type="bridge", ifname=" ".join(ports) or None, **addressing),
        )


def _uplinks(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    for index, (name, uplink) in enumerate(zip(ctx.uplink_names(), ctx.node.uplinks, strict=True)):
        options: dict[str, str | int | None] = {"proto": uplink.proto}
        if uplink.proto == "static" and uplink.address and uplink.gateway:
            iface = ipaddress.IPv4Interface(uplink.address)
            options |= {
                "ipaddr": str(iface.ip),
                "netmask": str(iface.netmask),
                "gateway": uplink.gateway,
            }
        if uplink.proto == "pppoe" and uplink.password is not None:
            options |= {
                "username": uplink.username,
                "password": ctx.reveal(uplink.password, PACKAGE),
                # '1', not the default 'auto': with `auto` pppd starts its own DHCPv6
                # client (`wan_6`) beside ours (netifd's ppp.sh, AUTOIPV6).
                "ipv6": 1,
            }
        # Several uplinks: the first is preferred, the others are fallbacks.
        options["metric"] = 10 * (index + 1) if len(ctx.node.uplinks) > 1 else None
        yield PACKAGE, section("interface", name, **_device(ctx, uplink.port), **options)
        yield PACKAGE, _uplink6(ctx, name, uplink)


def _uplink6(ctx: NodeContext, name: str, uplink: Uplink) -> Section:
    """DHCPv6 (and prefix delegation) on an uplink, as config_generate writes `wan6`:
    on the port itself for DHCP (and static) uplinks, so IPv6 does not wait for an IPv4
    lease; on `@wan` for PPPoE, whose device exists only while the session is up."""
    device = f"@{name}" if uplink.proto == "pppoe" else uplink.port
    return section("interface", uplink6_name(name), **_device(ctx, device), proto="dhcpv6")


def mesh_devices(ctx: NodeContext) -> list[str]:
    """Linux devices the routing protocol runs on (babel interfaces, batman hardifs)."""
    out = [MESH_IFNAME] if ctx.mesh_wifi else []
    return out + ctx.mesh_ports
