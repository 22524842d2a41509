"""Deterministic address planning: each node's mesh address and LAN subnet.

A node's *slot* is its `id` when the operator fixed one (the community-network
habit of node numbers, as NYC Mesh does), else a stable hash of its name. Its
mesh address is `addressing.mesh` + slot and its LAN subnet the slot-th
`/lan_prefix` of `addressing.lan`. A slot depends on nothing but the node's own
name or id, so adding or removing a node never renumbers another. Two nodes on
one slot are a conflict the operator resolves by giving one of them an `id`;
meshkeeper never silently shifts an address, because a renumbered rooftop
router is one the NOC can no longer reach.

IPv6: the network has one ULA /48 (RFC 4193), `addressing.ula` or derived from
the network's name, so it never changes between renders.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from controller.model.schema import Addressing, Node

ULA_BITS = 48  # OpenWrt's globals.ula_prefix is a /48


@dataclass(frozen=True)
class NodePlan:
    slot: int
    slot_from_id: bool
    mesh_address: ipaddress.IPv4Address
    lan_subnet: ipaddress.IPv4Network
    lan_address: ipaddress.IPv4Address  # the router's own address on its LAN (first host)
    management: ipaddress.IPv4Address


@dataclass(frozen=True)
class SlotConflict:
    node: str
    other: str
    slot: int


@dataclass(frozen=True)
class SlotOutOfRange:
    node: str
    slot: int
    capacity: int


def capacity(addressing: Addressing) -> int:
    """The highest usable slot: limited by both the mesh pool and the LAN pool."""
    mesh = ipaddress.IPv4Network(addressing.mesh)
    lan = ipaddress.IPv4Network(addressing.lan)
    lan_subnets = 2 ** max(addressing.lan_prefix - lan.prefixlen, 0)
    if addressing.lan_prefix < lan.prefixlen:
        lan_subnets = 0
    return int(max(min(mesh.num_addresses - 2, lan_subnets - 1), 0))


def hashed_slot(name: str, limit: int) -> int:
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return 1 + int.from_bytes(digest, "big") % max(limit, 1)


def plan_addresses(
    nodes: Iterable[Node], addressing: Addressing
) -> tuple[dict[str, NodePlan], list[SlotConflict | SlotOutOfRange]]:
    limit = capacity(addressing)
    mesh_base = int(ipaddress.IPv4Network(addressing.mesh).network_address)
    lan_base = int(ipaddress.IPv4Network(addressing.lan).network_address)
    lan_size = 2 ** (32 - addressing.lan_prefix)
    plans: dict[str, NodePlan] = {}
    owner: dict[int, str] = {}
    issues: list[SlotConflict | SlotOutOfRange] = []
    for node in sorted(nodes, key=lambda n: n.name):
        slot = node.id if node.id is not None else hashed_slot(node.name, limit)
        if slot > limit:
            issues.append(SlotOutOfRange(node.name, slot, limit))
            continue
        if slot in owner:
            issues.append(SlotConflict(node.name, owner[slot], slot))
        owner.setdefault(slot, node.name)
        mesh_address = ipaddress.IPv4Address(node.mesh_address or mesh_base + slot)
        subnet = ipaddress.IPv4Network(
            node.lan.subnet or (lan_base + slot * lan_size, addressing.lan_prefix)
        )
        plans[node.name] = NodePlan(
            slot=slot,
            slot_from_id=node.id is not None,
            mesh_address=mesh_address,
            lan_subnet=subnet,
            lan_address=ipaddress.IPv4Address(int(subnet.network_address) + 1),
            management=ipaddress.IPv4Address(node.management) if node.management else mesh_address,
        )
    return plans, issues


def ula_prefix(network_name: str, addressing: Addressing) -> ipaddress.IPv6Network:
    """The network's ULA /48: `addressing.ula`, else fd + the first 40 bits of the
    sha256 of the network's name (RFC 4193's layout with a stable "random" part:
    OpenWrt's first boot draws one at random, which would differ on every router)."""
    if addressing.ula is not None:
        return ipaddress.IPv6Network(addressing.ula)
    global_id = hashlib.sha256(network_name.encode("utf-8")).digest()[:5]
    prefix = int.from_bytes(b"\xfd" + global_id, "big") << (128 - ULA_BITS)
    return ipaddress.IPv6Network((prefix, ULA_BITS))
