"""A node's whole file tree: which renderers, in which order, written how.

    render_inventory(inv) ─► {node: [RenderedFile]} ─► write_tree(DIR)

Output is a pure function of the inventory: same inventory, same bytes. A
node's files change only when that node's inputs change (or a neighbour's
link does). Files holding a secret are written 0600.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
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
MARKER = ".meshkeeper-render"


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


def write_tree(root: Path, rendered: dict[str, list[RenderedFile]], *, prune: bool) -> list[str]:
    """Write each node's files under root/<node>/; rewrite only what changed.

    Files a node no longer has are removed; with `prune` (a full render),
    node directories of nodes no longer in the inventory too, but only in a
    directory meshkeeper made (it holds the marker file). Returns the
    changed paths.
    """
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER
    if not marker.exists():
        if any(root.iterdir()):
            raise MeshkeeperError(
                f"{root} is not empty and was not made by meshkeeper render — "
                "choose an empty or new directory with -o"
            )
        marker.write_text("files rendered by meshkeeper; safe to delete\n", encoding="utf-8")
    changed: list[str] = []
    for node, files in rendered.items():
        base = root / node
        wanted = {base / f.path for f in files}
        for file in files:
            if _write(base / file.path, file.data, file.mode):
                changed.append(f"{node}/{file.path}")
        for stale in sorted(p for p in _files(base) if p not in wanted):
            stale.unlink()
            changed.append(f"{node}/{stale.relative_to(base)} (removed)")
    if prune:
        for old in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in rendered):
            for path in sorted(old.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            old.rmdir()
            changed.append(f"{old.name}/ (removed)")
    return changed


def _files(base: Path) -> list[Path]:
    out = []
    for folder, _, names in os.walk(base):
        out += [Path(folder, name) for name in names]
    return out


def _write(path: Path, data: bytes, mode: int) -> bool:
    """Write `data` if it differs; a new file directly, a changed one by atomic rename."""
    try:
        same = path.read_bytes() == data and (path.stat().st_mode & 0o777) == mode
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        _create(path, data, mode)
        return True
    if same:
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    _create(tmp, data, mode)
    tmp.replace(path)
    return True


def _create(path: Path, data: bytes, mode: int) -> None:
    # Created exclusively with its final mode: a secret is never readable by others,
    # not even briefly (fchmod only when the umask took bits away).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        if os.fstat(fd).st_mode & 0o777 != mode:
            os.fchmod(fd, mode)
        handle.write(data)


__all__ = ["RENDERERS", "RenderedFile", "Section", "render_inventory", "render_node", "write_tree"]
