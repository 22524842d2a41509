"""Addresses and subnets: unique, not overlapping, inside their pools."""

from __future__ import annotations

import ipaddress

from controller.model.checks.located import Found, at, at_node
from controller.model.inventory import Inventory
from controller.model.plan import SlotConflict, capacity
from controller.model.sources import Path


def check_plan(inv: Inventory) -> Found:
    for issue in inv.plan_issues:
        field: Path = ("id",) if inv.nodes[issue.node].id is not None else ()
        if isinstance(issue, SlotConflict):
            yield at_node(
                inv,
                issue.node,
                field,
                f"plans to address slot {issue.slot}, which node {issue.other} has",
                "give one of the two an explicit, unused `id`",
            )
        else:
            yield at_node(
                inv,
                issue.node,
                field,
                f"slot {issue.slot} is beyond the {issue.capacity} slots the addressing pools hold",
                "use a smaller `id` or widen addressing.mesh / addressing.lan",
            )
    if capacity(inv.addressing) < 1:
        yield at(
            inv,
            ("addressing",),
            "the pools hold no node slot",
            "widen addressing.mesh and addressing.lan or lower lan_prefix",
        )


def check_unique_addresses(inv: Inventory) -> Found:
    """Explicit addresses must not collide; planned ones collide only through a slot
    conflict, which check_plan reports once."""
    noc = ipaddress.IPv4Address(inv.noc.address)
    owners: dict[ipaddress.IPv4Address, tuple[str, Path | None]] = {}
    for name, plan in sorted(inv.plan.items()):
        node = inv.nodes[name]
        candidates: list[tuple[Path, ipaddress.IPv4Address, bool]] = [
            (("mesh_address",), plan.mesh_address, node.mesh_address is not None)
        ]
        if node.management is not None and plan.management != plan.mesh_address:
            candidates.append((("management",), plan.management, True))
        for field, address, explicit in candidates:
            if address == noc:
                if explicit:
                    yield at_node(
                        inv,
                        name,
                        field,
                        f"address {address} is the NOC's address",
                        "give each node and the NOC its own address",
                    )
                else:
                    yield at(
                        inv,
                        ("noc", "address"),
                        f"{address} is also the planned address of {name}",
                        "choose a NOC address outside the node slots (or give the node an id)",
                    )
                continue
            other = owners.get(address)
            if other is None:
                owners[address] = (name, field if explicit else None)
            elif other[0] != name and other[1] is not None:
                yield at_node(
                    inv,
                    other[0],
                    other[1],
                    f"address {address} is also used by {name}",
                    "give each node and the NOC its own address",
                )
            elif other[0] != name and explicit:
                yield at_node(
                    inv,
                    name,
                    field,
                    f"address {address} is also used by {other[0]}",
                    "give each node and the NOC its own address",
                )


def check_subnets(inv: Inventory) -> Found:
    mesh = ipaddress.IPv4Network(inv.addressing.mesh)
    lan_pool = ipaddress.IPv4Network(inv.addressing.lan)
    if mesh.overlaps(lan_pool):
        yield at(
            inv,
            ("addressing", "lan"),
            f"overlaps the mesh pool {mesh}",
            "choose separate pools for mesh addresses and LANs",
        )
    spans = sorted((plan.lan_subnet, name) for name, plan in inv.plan.items())
    reach: tuple[ipaddress.IPv4Network, str] | None = None  # the LAN reaching furthest so far
    for net, name in spans:
        if reach is not None and net.network_address <= reach[0].broadcast_address:
            other_net, other = reach
            # Planned LANs only meet through a slot conflict, which check_plan reports.
            explicit = name if inv.nodes[name].lan.subnet else other
            if inv.nodes[explicit].lan.subnet:
                peer, peer_net = (other, other_net) if explicit == name else (name, net)
                yield at_node(
                    inv,
                    explicit,
                    ("lan", "subnet"),
                    f"LAN {inv.plan[explicit].lan_subnet} overlaps the LAN {peer_net} of {peer}",
                    "give each node its own LAN subnet",
                )
        if reach is None or net.broadcast_address > reach[0].broadcast_address:
            reach = (net, name)
        if net.overlaps(mesh):
            yield at_node(
                inv,
                name,
                ("lan", "subnet"),
                f"LAN {net} overlaps the mesh pool {mesh}",
                "move the LAN out of addressing.mesh",
            )
    for name, node in sorted(inv.nodes.items()):
        for index, uplink in enumerate(node.uplinks):
            if uplink.address is None:
                continue
            net = ipaddress.IPv4Interface(uplink.address).network
            if net.overlaps(mesh) or net.overlaps(lan_pool):
                yield at_node(
                    inv,
                    name,
                    ("uplinks", index, "address"),
                    f"uplink network {net} overlaps the mesh or LAN pools",
                    "ask the ISP for another range or move the pools",
                )
