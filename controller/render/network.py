"""`network`: loopback, LAN bridge, uplinks, mesh interfaces, NOC attachment.

19.07 writes `option ifname` (a bridge is `option type 'bridge'` on the
interface); 21.02+ writes `config device` with `list ports` and interfaces
name their `device` (../shared/FIELD-NOTES.md, config generations).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from controller.render.context import MESH_IFNAME, NodeContext, section, uci_name
from controller.uci import Section

PACKAGE = "network"
LAN = "lan"
MESH = "mesh"
MGMT = "mgmt"
NOC = "noc"
HOST_MASK = "255.255.255.255"


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
    yield from _switch(ctx)
    yield from _lan(ctx)
    yield from _uplinks(ctx)
    yield from _mesh(ctx)
    if has_mgmt(ctx):
        yield (
            PACKAGE,
            section(
                "interface",
                MGMT,
                **_device(ctx, "lo"),
                proto="static",
                ipaddr=str(ctx.plan.management),
                netmask=HOST_MASK,
            ),
        )
    if ctx.is_noc_entry:
        yield from _noc(ctx)


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
    addressing = {
        "proto": "static",
        "ipaddr": str(ctx.plan.lan_address),
        "netmask": str(subnet.netmask),
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
            }
        # Several uplinks: the first is preferred, the others are fallbacks.
        options["metric"] = 10 * (index + 1) if len(ctx.node.uplinks) > 1 else None
        yield PACKAGE, section("interface", name, **_device(ctx, uplink.port), **options)


def _mesh(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    if not ctx.meshed:
        return
    address = {
        "proto": "static",
        "ipaddr": str(ctx.plan.mesh_address),
        "netmask": ctx.mesh_netmask(),
    }
    if ctx.protocol == "batman-adv":
        # The L3 mesh address lives on bat0; radios and ports join bat0 (batman_adv.py).
        yield PACKAGE, section("interface", MESH, **_device(ctx, "bat0"), **address)
        return
    # babel: the 802.11s interface joins `mesh` through wireless (network 'mesh');
    # each wired mesh port carries the same /32 as its own interface.
    yield PACKAGE, section("interface", MESH, **address)
    for port in ctx.mesh_ports:
        yield (
            PACKAGE,
            section("interface", mesh_port_interface(port), **_device(ctx, port), **address),
        )


def _noc(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    """The NOC hangs off the entry node by cable: a /32 each way, routed into the mesh."""
    noc = ctx.inv.noc
    yield (
        PACKAGE,
        section(
            "interface",
            NOC,
            **_device(ctx, noc.port),
            proto="static",
            ipaddr=str(ctx.plan.mesh_address),
            netmask=HOST_MASK,
        ),
    )
    yield (
        PACKAGE,
        section("route", "noc_host", interface=NOC, target=noc.address, netmask=HOST_MASK),
    )


def mesh_devices(ctx: NodeContext) -> list[str]:
    """Linux devices the routing protocol runs on (babel interfaces, batman hardifs)."""
    out = [MESH_IFNAME] if ctx.mesh_wifi else []
    return out + ctx.mesh_ports
