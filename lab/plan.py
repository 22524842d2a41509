"""The practice lab's shape, derived from the inventory: a pure function, no I/O.

    node X      namespace mkn-X   wl<slot>/et<slot> veths per expected link,
                                  br-lan, uplink ports, the NOC port on the entry node
    ISP i       namespace mki-<isp>  customers' first hop, resolver 100.(64+8i).0.53
    exchange    namespace mk-ix   domestic targets (198.19.0.0/16)
    internet    namespace mk-inet international and platform targets (198.18.0.0/16)
    NOC         namespace mk-noc  the NOC's address, cabled to the entry node

Every address is inside the lab: the inventory's mesh and LAN pools, ISP blocks
in 100.64.0.0/10, and the emulated internet on 198.18.0.0/15. The host gets
no interface and no route into any of it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from controller.model.inventory import Inventory

PREFIX = "mk"
EXCHANGE_NS = f"{PREFIX}-ix"
INTERNET_NS = f"{PREFIX}-inet"
NOC_NS = f"{PREFIX}-noc"
LAN_BRIDGE = "br-lan"
# Transit between ISPs, the exchange and the internet: 198.19.255.0/24 (never a target).
TRANSIT = ipaddress.IPv4Network("198.19.255.0/24")
INTERNET_TRANSIT_IX = ipaddress.IPv4Interface("198.19.255.253/30")
INTERNET_TRANSIT_INET = ipaddress.IPv4Interface("198.19.255.254/30")
# An address in the internet namespace that runs no resolver (DNS injection checks).
NON_RESOLVER = ipaddress.IPv4Address("198.18.0.99")
INTERNET_RESOLVER = ipaddress.IPv4Address("198.18.0.53")


@dataclass(frozen=True)
class LabLink:
    a: str
    b: str
    dev_a: str  # the device in a's namespace
    dev_b: str
    medium: str


@dataclass(frozen=True)
class Uplink:
    node: str
    interface: str  # the logical OpenWrt interface: wan, wan2, ...
    node_dev: str  # the router's port (the uplink's `port`)
    isp_dev: str  # its peer in the ISP namespace
    node_address: ipaddress.IPv4Interface
    gateway: ipaddress.IPv4Address  # the ISP's first hop
    dhcp: bool  # the lab hands this address out as DHCP would


@dataclass(frozen=True)
class LabIsp:
    name: str
    namespace: str
    index: int
    block: ipaddress.IPv4Network  # 100.(64+8i).0.0/13
    resolver: ipaddress.IPv4Address
    transit_isp: ipaddress.IPv4Interface  # towards the exchange
    transit_ix: ipaddress.IPv4Interface
    ix_dev: str  # the ISP's port in the exchange namespace
    uplinks: tuple[Uplink, ...]


@dataclass(frozen=True)
class LabNode:
    name: str
    namespace: str
    slot: int
    wifi: tuple[str, ...]  # devices standing in for the 802.11s interface mesh0
    wired: tuple[str, ...]  # devices for ethernet links
    uplinks: tuple[Uplink, ...]
    noc_port: str | None  # on the entry node: the port the NOC plugs into
    legacy_rsa: bool = False  # an OpenWrt 19.07-like SSH server: ssh-rsa only


@dataclass(frozen=True)
class LabPlan:
    nodes: dict[str, LabNode]
    links: tuple[LabLink, ...]
    isps: dict[str, LabIsp]
    noc_address: ipaddress.IPv4Address
    noc_entry: str
    noc_gateway: ipaddress.IPv4Address  # the entry node's mesh address
    domestic: tuple[ipaddress.IPv4Address, ...]
    international: tuple[ipaddress.IPv4Address, ...]
    routed_pools: tuple[ipaddress.IPv4Network, ...] = field(default=())

    def namespaces(self) -> list[str]:
        return (
            [n.namespace for n in self.nodes.values()]
            + [i.namespace for i in self.isps.values()]
            + [EXCHANGE_NS, INTERNET_NS, NOC_NS]
        )


def node_namespace(name: str) -> str:
    return f"{PREFIX}n-{name}"


def isp_namespace(name: str) -> str:
    return f"{PREFIX}i-{name}"


def lab_plan(inv: Inventory) -> LabPlan:
    slots = {name: plan.slot for name, plan in inv.plan.items()}
    links = tuple(
        LabLink(
            link.a,
            link.b,
            _link_dev(link.medium, slots[link.b]),
            _link_dev(link.medium, slots[link.a]),
            link.medium,
        )
        for link in inv.links
    )
    isps = _isps(inv)
    uplinks_by_node: dict[str, list[Uplink]] = {}
    for isp in isps.values():
        for uplink in isp.uplinks:
            uplinks_by_node.setdefault(uplink.node, []).append(uplink)
    nodes = {}
    for name in sorted(inv.nodes):
        wifi = _devices(links, name, "wifi")
        wired = _devices(links, name, "ethernet")
        nodes[name] = LabNode(
            name=name,
            namespace=node_namespace(name),
            slot=slots[name],
            wifi=wifi,
            wired=wired,
            uplinks=tuple(sorted(uplinks_by_node.get(name, []), key=lambda u: u.interface)),
            noc_port=inv.noc.port if inv.noc.entry == name else None,
            legacy_rsa=inv.nodes[name].ssh.legacy_rsa,
        )
    targets = [t for tier in (inv.probes.tiers.domestic,) for t in tier if t.address]
    foreign = [
        t
        for tier in (inv.probes.tiers.international, inv.probes.tiers.platforms)
        for t in tier
        if t.address
    ]
    return LabPlan(
        nodes=nodes,
        links=links,
        isps=isps,
        noc_address=ipaddress.IPv4Address(inv.noc.address),
        noc_entry=inv.noc.entry,
        noc_gateway=inv.plan[inv.noc.entry].mesh_address,
        domestic=tuple(sorted({ipaddress.IPv4Address(t.address) for t in targets if t.address})),
        international=tuple(
            sorted(
                {ipaddress.IPv4Address(t.address) for t in foreign if t.address}
                | {INTERNET_RESOLVER}
            )
        ),
        routed_pools=(
            ipaddress.IPv4Network(inv.addressing.mesh),
            ipaddress.IPv4Network(inv.addressing.lan),
        ),
    )


def _devices(links: tuple[LabLink, ...], name: str, medium: str) -> tuple[str, ...]:
    return tuple(
        sorted(
            link.dev_a if link.a == name else link.dev_b
            for link in links
            if name in (link.a, link.b) and link.medium == medium
        )
    )


def _link_dev(medium: str, peer_slot: int) -> str:
    return f"{'wl' if medium == 'wifi' else 'et'}{peer_slot}"


def _isps(inv: Inventory) -> dict[str, LabIsp]:
    out = {}
    for index, name in enumerate(sorted(inv.isps)):
        block = ipaddress.IPv4Network(
            (int(ipaddress.IPv4Address("100.64.0.0")) + index * 8 * 65536, 13)
        )
        uplinks = []
        customer = 0
        for node_name, node in sorted(inv.nodes.items()):
            for position, uplink in enumerate(node.uplinks):
                if uplink.isp != name:
                    continue
                interface = "wan" if position == 0 else f"wan{position + 1}"
                if uplink.proto == "static" and uplink.address and uplink.gateway:
                    address = ipaddress.IPv4Interface(uplink.address)
                    gateway = ipaddress.IPv4Address(uplink.gateway)
                else:  # dhcp / pppoe: the ISP hands out a /30 from its block
                    customer += 1
                    base = (
                        int(block.network_address)
                        + (128 + customer // 64) * 256
                        + (customer % 64) * 4
                    )
                    address = ipaddress.IPv4Interface((base + 2, 30))
                    gateway = ipaddress.IPv4Address(base + 1)
                uplinks.append(
                    Uplink(
                        node=node_name,
                        interface=interface,
                        node_dev=uplink.port,
                        isp_dev=f"c{inv.plan[node_name].slot}{position or ''}",
                        node_address=address,
                        gateway=gateway,
                        dhcp=uplink.proto != "static",
                    )
                )
        transit = int(TRANSIT.network_address) + 4 * index
        out[name] = LabIsp(
            name=name,
            namespace=isp_namespace(name),
            index=index,
            block=block,
            resolver=block.network_address + 53,
            transit_isp=ipaddress.IPv4Interface((transit + 1, 30)),
            transit_ix=ipaddress.IPv4Interface((transit + 2, 30)),
            ix_dev=f"isp{index}",
            uplinks=tuple(uplinks),
        )
    return out
