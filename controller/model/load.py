"""Load an inventory directory: read, merge, layer, validate, check, plan.

    files ─ yamlsource ─► merged mapping + Sources ─ InventoryFile ─► top level
    defaults → profiles.<p> → nodes.<n>  (deep merge) ─ Node ─► nodes
    checks.py (network-wide) + plan.py (addresses) ─► Inventory, or InventoryError

Every problem found anywhere is collected, so `meshkeeper check` shows them all
at once; nothing is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from controller.errors import InventoryError, Location, Problem
from controller.model.files import ENV_VAR, display_path, inventory_files
from controller.model.inventory import Inventory
from controller.model.messages import one_of, validation_problems
from controller.model.schema import InventoryFile, Node
from controller.model.sources import Path as FieldPath
from controller.model.sources import Sources, dotted, shown
from controller.model.yamlsource import load_file

DEFAULT_DIR = "inventory"
# Keys that several files may each contribute entries to; any other top-level
# key belongs to exactly one file.
_KEYED = ("nodes", "profiles", "isps")
_LISTED = ("links",)


def default_path() -> Path:
    return Path(os.environ.get(ENV_VAR) or DEFAULT_DIR)


def load_inventory(path: Path | None = None, *, resolve_secrets: bool = False) -> Inventory:
    """The validated inventory at `path`, or InventoryError listing every problem."""
    root = path if path is not None else default_path()
    problems: list[Problem] = []
    sources = Sources(fallback=str(root))
    files, unread = inventory_files(root)
    problems.extend(unread)
    merged = _merge(root, files, sources, problems)
    top_problems: list[Problem] = []
    top = _validate(InventoryFile, merged, (), sources, top_problems)
    if len(sources.documents) < len(files) or unread:
        # A file that does not parse may hold the sections reported missing: its own
        # error is the one to fix first.
        top_problems = [p for p in top_problems if not _missing_section(p)]
    problems.extend(top_problems)
    nodes = _resolve_nodes(_node_sources(top, merged), sources, problems)
    if top is None:
        raise InventoryError(problems)
    inventory = Inventory.build(root if root.is_dir() else root.parent, top, nodes, sources)
    from controller.model.checks import check_inventory, inventory_warnings

    problems.extend(check_inventory(inventory, resolve_secrets=resolve_secrets))
    if problems:
        raise InventoryError(problems)
    if not resolve_secrets:
        return inventory  # the warnings compare key files: only with the secrets at hand
    return replace(inventory, warnings=tuple(sorted(inventory_warnings(inventory), key=str)))


def _missing_section(problem: Problem) -> bool:
    return problem.what == "is required" and "." not in problem.field


@dataclass(frozen=True)
class NodeSources:
    """What node layering needs; taken from the raw merge when the top level is invalid,
    so node problems are reported even then."""

    defaults: dict[str, Any]
    profiles: dict[str, Any]
    nodes: dict[str, Any]


def _node_sources(top: InventoryFile | None, merged: dict[str, Any]) -> NodeSources:
    if top is not None:
        return NodeSources(top.defaults, dict(top.profiles), top.nodes)

    def mapping(key: str) -> dict[str, Any]:
        value = merged.get(key)
        return value if isinstance(value, dict) else {}

    profiles = {k: v for k, v in mapping("profiles").items() if isinstance(v, dict)}
    return NodeSources(mapping("defaults"), profiles, mapping("nodes"))


def _merge(
    root: Path, files: list[Path], sources: Sources, problems: list[Problem]
) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for file in files:
        display = display_path(file)
        result = load_file(file, display)
        problems.extend(result.problems)
        if result.document is None:
            continue
        sources.documents[display] = result.document
        data = result.document.data
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(
                Problem(
                    Location(display, 1, 1),
                    "",
                    "is not a mapping of inventory sections",
                    "start the file with keys such as network:, nodes:",
                )
            )
            continue
        for key, value in data.items():
            _merge_key(merged, sources, display, key, value, problems)
    return merged


def _merge_key(
    merged: dict[str, Any],
    sources: Sources,
    file: str,
    key: Any,
    value: Any,
    problems: list[Problem],
) -> None:
    if key in _KEYED and isinstance(value, dict):
        into = merged.setdefault(key, {})
        if not isinstance(into, dict):
            return
        for name, item in value.items():
            if name in into:
                first = sources.locate((key, str(name)))
                problems.append(
                    Problem(
                        _loc(sources, file, (key, name)),
                        dotted((key, str(name))),
                        f"is also defined at {first}",
                        "keep one definition",
                    )
                )
                continue
            into[name] = item
            # Paths name entries as text (`1:` is reported as nodes.1): own them so.
            sources.own((key, str(name)), file, (key, name))
        sources.owners.setdefault((key,), (file, (key,)))
        return
    if key in _LISTED and isinstance(value, list):
        into_list = merged.setdefault(key, [])
        for index, item in enumerate(value):
            sources.own((key, len(into_list)), file, (key, index))
            into_list.append(item)
        sources.owners.setdefault((key,), (file, (key,)))
        return
    if key in merged:
        first = sources.locate((key,))
        problems.append(
            Problem(
                _loc(sources, file, (key,)),
                str(key),
                f"is also defined at {first}",
                "keep it in one file",
            )
        )
        return
    merged[key] = value
    sources.own((key,), file, (key,))


def _loc(sources: Sources, file: str, inner: FieldPath) -> Location:
    from controller.model.yamlsource import locate

    return locate(sources.documents[file], inner)


def _validate(
    model: type[BaseModel], data: Any, base: FieldPath, sources: Sources, problems: list[Problem]
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(
            validation_problems(exc, data, model, base, lambda p: (sources.locate(p), p))
        )
        return None


def deep_merge(base: Any, over: Any) -> Any:
    """Mappings merge key by key (recursively); anything else is replaced."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    out = dict(base)
    for key, value in over.items():
        out[key] = deep_merge(base[key], value) if key in base else value
    return out


def _resolve_nodes(top: NodeSources, sources: Sources, problems: list[Problem]) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    seen: set[tuple[Location, str, str]] = set()
    for name, raw in top.nodes.items():
        if not isinstance(name, str):
            continue  # InventoryFile reported the key: a node's name is text
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            problems.append(
                Problem(
                    sources.locate(("nodes", name)),
                    f"nodes.{name}",
                    "must be a mapping of the node's settings",
                    "write the node's fields under its name",
                )
            )
            continue
        layers = _layers(top, str(name), raw, sources, problems)
        if layers is None:
            continue
        data: dict[str, Any] = {}
        for _, layer in reversed(layers):
            data = deep_merge(data, layer)
        data["name"] = name
        try:
            nodes[str(name)] = Node.model_validate(data)
        except ValidationError as exc:
            for problem in validation_problems(
                exc,
                data,
                Node,
                (),
                lambda p, ls=layers: _layer_locate(p, ls, sources),  # type: ignore[misc]
            ):
                key = (problem.location, problem.field, problem.what)
                if key not in seen:  # an error in defaults is reported once, not per node
                    seen.add(key)
                    problems.append(problem)
    return nodes


Layer = tuple[FieldPath, dict[str, Any]]


def _layers(
    top: NodeSources, name: str, raw: dict[str, Any], sources: Sources, problems: list[Problem]
) -> list[Layer] | None:
    layers: list[Layer] = [(("nodes", name), raw)]
    profile = raw.get("profile")
    if profile is not None:
        if not isinstance(profile, str) or profile not in top.profiles:
            problems.append(
                Problem(
                    sources.locate(("nodes", name, "profile")),
                    f"nodes.{name}.profile",
                    f"{shown(profile)} is not a known profile",
                    one_of(str(profile), list(top.profiles), "profiles"),
                )
            )
            return None
        layers.append((("profiles", profile), top.profiles[profile]))
    layers.append((("defaults",), top.defaults))
    return layers


def _layer_locate(
    path: FieldPath, layers: list[Layer], sources: Sources
) -> tuple[Location, FieldPath]:
    if path == ("name",):
        return sources.locate(layers[0][0]), layers[0][0]
    return sources.locate_layered([prefix for prefix, _ in layers], path)


__all__ = ["deep_merge", "default_path", "dotted", "load_inventory"]
