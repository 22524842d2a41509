"""The resolved, validated inventory that every other part of meshkeeper reads."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from controller.errors import Problem
from controller.model.plan import (
    NodePlan,
    SlotConflict,
    SlotOutOfRange,
    plan_addresses,
    ula_prefix,
)
from controller.model.schema import (
    Addressing,
    InventoryFile,
    Isp,
    Link,
    Mesh,
    Network,
    Noc,
    Node,
    Probes,
)
from controller.model.sources import Sources


@dataclass(frozen=True)
class Inventory:
    root: Path
    network: Network
    mesh: Mesh
    addressing: Addressing
    isps: dict[str, Isp]
    probes: Probes
    noc: Noc
    links: tuple[Link, ...]
    nodes: dict[str, Node]
    plan: dict[str, NodePlan]
    plan_issues: tuple[SlotConflict | SlotOutOfRange, ...]
    # Nodes the inventory declares but that failed validation: known by name
    # (so links to them are not "unknown"), absent from `nodes`.
    invalid_nodes: frozenset[str]
    sources: Sources = field(repr=False, compare=False)
    # What `check` points out without refusing the inventory (load.py fills it in).
    warnings: tuple[Problem, ...] = field(default=(), compare=False)

    @classmethod
    def build(
        cls, root: Path, top: InventoryFile, nodes: dict[str, Node], sources: Sources
    ) -> Inventory:
        invalid = frozenset(str(name) for name in top.nodes) - set(nodes)
        plan, issues = plan_addresses(nodes.values(), top.addressing)
        return cls(
            root=root,
            network=top.network,
            mesh=top.mesh,
            addressing=top.addressing,
            isps=dict(top.isps),
            probes=top.probes,
            noc=top.noc,
            links=tuple(top.links),
            nodes=nodes,
            plan=plan,
            plan_issues=tuple(issues),
            invalid_nodes=invalid,
            sources=sources,
        )

    def declares(self, name: str) -> bool:
        return name in self.nodes or name in self.invalid_nodes

    def neighbours(self) -> dict[str, set[str]]:
        """Adjacency over the inventory's expected links (known nodes only)."""
        adjacency: dict[str, set[str]] = {name: set() for name in self.nodes}
        for link in self.links:
            if link.a in adjacency and link.b in adjacency:
                adjacency[link.a].add(link.b)
                adjacency[link.b].add(link.a)
        return adjacency

    @cached_property
    def links_by_node(self) -> dict[str, list[tuple[str, Link]]]:
        """(neighbour, link) per node, sorted by neighbour: one pass over the links."""
        out: dict[str, list[tuple[str, Link]]] = {name: [] for name in self.nodes}
        for link in self.links:
            if link.a == link.b:
                continue
            for end, other in ((link.a, link.b), (link.b, link.a)):
                if end in out:
                    out[end].append((other, link))
        for items in out.values():
            items.sort(key=lambda item: item[0])
        return out

    @cached_property
    def ula_prefix(self) -> ipaddress.IPv6Network:
        return ula_prefix(self.network.name, self.addressing)

    @cached_property
    def gateway_names(self) -> list[str]:
        return sorted(node.name for node in self.nodes.values() if node.role == "gateway")

    def mesh_members(self) -> list[Node]:
        return [node for node in self.nodes.values() if node.mesh.enabled]

    def gateways(self) -> list[Node]:
        return [node for node in self.nodes.values() if node.role == "gateway"]

    def login_key_file(self, name: str) -> Path:
        """The private key `push` logs in to node `name` with: ssh.key_file (relative to
        the inventory, `~` expanded), else ~/.ssh/id_ed25519."""
        spec = self.nodes[name].ssh
        key = Path(spec.key_file or "~/.ssh/id_ed25519").expanduser()
        return key if key.is_absolute() else (self.root / key).resolve()

    def node_layers(self, name: str) -> list[tuple[str | int, ...]]:
        """Merged-path prefixes of a node's layers, highest precedence first."""
        node = self.nodes.get(name)
        layers: list[tuple[str | int, ...]] = [("nodes", name)]
        if node is not None and node.profile is not None:
            layers.append(("profiles", node.profile))
        layers.append(("defaults",))
        return layers
