"""A node's whole file tree: which renderers, in which order, written how.

    render_inventory(inv) ─► {node: [RenderedFile]} ─► write_tree(DIR)

Output is a pure function of the inventory: same inventory, same bytes. A
node's files change only when that node's inputs change (or a neighbour's
link does). Files holding a secret are written 0600.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

from controller.errors import InventoryError, Location, MeshkeeperError, Problem, SecretError
from controller.model.inventory import Inventory
from controller.render import (
    agent_config,
    babeld,
    batman_adv,
    dhcp,
    dropbear,
    firewall,
    network,
    system,
    wireless,
)
from controller.render.context import NodeContext, SecretCache
from controller.render.output import MARKER, write_tree
from controller.render.xref import check_references
from controller.uci import Package, Section, emit

# Order matters: it is the order of sections inside each package file.
RENDERERS: tuple[ModuleType, ...] = (
    system,
    network,
    batman_adv,
    wireless,
    firewall,
    dhcp,
    babeld,
    dropbear,
)


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative to the node's root, e.g. "etc/config/network"
    data: bytes
    mode: int


def render_packages(ctx: NodeContext) -> dict[str, Package]:
    packages: dict[str, Package] = {}
    for renderer in RENDERERS:
        for name, section in renderer.render(ctx):
            packages.setdefault(name, Package(name)).sections.append(section)
    return packages


def render_node(ctx: NodeContext) -> list[RenderedFile]:
    packages = render_packages(ctx)
    check_references(ctx.node.name, packages)
    files = [
        RenderedFile(
            f"etc/config/{name}",
            emit(pkg).encode("utf-8"),
            0o600 if name in ctx.secret_packages else 0o644,
        )
        for name, pkg in sorted(packages.items())
    ]
    files.append(
        RenderedFile(
            "etc/dropbear/authorized_keys", dropbear.authorized_keys(ctx).encode("utf-8"), 0o600
        )
    )
    if not ctx.node.agent.enabled:  # no agent.json: the agent's service does not start
        return files
    agent_json = agent_config.render(ctx).encode("utf-8")  # may reveal the scrape password
    files.append(
        RenderedFile(
            "etc/meshkeeper/agent.json",
            agent_json,
            0o600 if agent_config.PACKAGE in ctx.secret_packages else 0o644,
        )
    )
    return files


def render_inventory(
    inv: Inventory, only: Iterable[str] | None = None
) -> dict[str, list[RenderedFile]]:
    names = sorted(inv.nodes) if only is None else list(only)
    unknown = [name for name in names if name not in inv.nodes]
    if unknown:
        raise InventoryError(
            [
                Problem(
                    Location(str(inv.root)),
                    f"nodes.{name}",
                    "no such node",
                    "check the name with `meshkeeper inventory show`",
                )
                for name in unknown
            ]
        )
    secrets = SecretCache(inv)
    out: dict[str, list[RenderedFile]] = {}
    for name in names:
        ctx = NodeContext(inv, inv.nodes[name], inv.plan[name], secrets)
        try:
            out[name] = render_node(ctx)
        except SecretError as exc:
            raise MeshkeeperError(f"node {name}: {exc}") from None
    return out


__all__ = [
    "MARKER",
    "RENDERERS",
    "RenderedFile",
    "Section",
    "render_inventory",
    "render_node",
    "write_tree",
]
