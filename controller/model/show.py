"""Human views of the resolved inventory (`meshkeeper inventory show`)."""

from __future__ import annotations

from typing import Any

import yaml

from controller.errors import InventoryError, Location, Problem
from controller.model.inventory import Inventory


def node_view(inv: Inventory, name: str) -> str:
    """One node with every layer applied and its planned addresses; secrets stay references."""
    node = inv.nodes.get(name)
    if node is None:
        raise InventoryError(
            [
                Problem(
                    Location(str(inv.root)),
                    f"nodes.{name}",
                    "no such node",
                    f"use one of: {', '.join(sorted(inv.nodes))}",
                )
            ]
        )
    plan = inv.plan[name]
    data: dict[str, Any] = node.model_dump(mode="json", exclude_none=True)
    data["planned"] = {
        "slot": plan.slot,
        "slot_from": "id" if plan.slot_from_id else "name hash",
        "mesh_address": str(plan.mesh_address),
        "management": str(plan.management),
        "lan_subnet": str(plan.lan_subnet),
        "lan_address": str(plan.lan_address),
        "ula_prefix": str(inv.ula_prefix),  # the network's; the LAN gets a /60 of it
    }
    data["links"] = sorted(inv.neighbours()[name])
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def node_table(inv: Inventory) -> str:
    from controller.tables import table

    adjacency = inv.neighbours()
    rows = [("NODE", "ROLE", "RELEASE", "PROFILE", "MESH ADDRESS", "LAN", "LINKS")] + [
        (
            name,
            node.role,
            node.release,
            node.profile or "-",
            str(inv.plan[name].mesh_address),
            str(inv.plan[name].lan_subnet),
            str(len(adjacency[name])),
        )
        for name, node in sorted(inv.nodes.items())
    ]
    return table(rows)
