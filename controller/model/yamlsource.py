"""Strict YAML loading that remembers where every value came from.

PyYAML's defaults are wrong for an operator's inventory:
- a duplicate key in a mapping silently keeps the last value; here it is a problem;
- YAML 1.1 turns `NO` (Norway), `on`, `yes` into booleans, `23.05` into a float
  and `22:30` into a sexagesimal integer. Here only true/false are booleans,
  plain decimal/hex integers are integers, and everything else stays text, so
  `country: NO` and `release: 23.05` mean what the operator wrote.

Loading keeps the composed node tree so a problem found later (by pydantic or a
network-wide check) can be reported at its file, line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controller.errors import Location, Problem

_BaseLoader: type[yaml.SafeLoader]
try:
    _BaseLoader = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml: same behaviour, slower
    _BaseLoader = yaml.SafeLoader

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULLS = frozenset({"~", "null", "Null", "NULL", ""})
_INT_RE = re.compile(r"(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)\Z")


class _StrictLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader whose plain scalars follow YAML 1.2's core schema (minus floats)."""

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                if value in _BOOLS:
                    return _BOOL
                if value in _NULLS:
                    return _NULL
                if _INT_RE.match(value):
                    return _INT
                if value == "<<":
                    return _MERGE_TAG
            return _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP


class _Builder:
    """Python data from a composed node tree; duplicate keys recorded, not lost silently.

    A direct walk is about twice as fast as PyYAML's generic constructor, which
    matters for 10,000-node inventories. Unusual tags fall back to PyYAML.
    """

    def __init__(self, loader: _StrictLoader) -> None:
        self.loader = loader
        self.duplicates: list[yaml.Node] = []
        self.flattened: set[int] = set()

    def build(self, node: yaml.Node) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag == _MAP:
            return self._mapping(node)
        if tag == _SEQ:
            return [self.build(item) for item in node.value]
        if tag == _INT:
            try:
                return int(node.value, 0)
            except ValueError:  # beyond Python's digit limit: no real setting is that long
                return node.value
        if tag == _BOOL:
            return _BOOLS[node.value]
        if tag == _NULL and node.value in _NULLS:
            return None
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.Node) -> dict[Any, Any]:
        check = id(node) not in self.flattened
        if any(key.tag == _MERGE_TAG for key, _ in node.value):
            explicit = [key for key, _ in node.value if key.tag == _STR]
            self._record_duplicates(explicit)
            self.loader.flatten_mapping(node)  # `<<` entries first, so explicit keys win
            self.flattened.add(id(node))
            check = False
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.build(key_node)
            try:
                repeated = key in out
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found an unhashable key",
                    key_node.start_mark,
                ) from None
            if repeated and check:
                self.duplicates.append(key_node)
            out[key] = self.build(value_node)
        return out

    def _record_duplicates(self, keys: list[yaml.Node]) -> None:
        seen: set[str] = set()
        for key_node in keys:
            if key_node.value in seen:
                self.duplicates.append(key_node)
            seen.add(key_node.value)


@dataclass
class YamlDocument:
    """One loaded file: its data and its node tree for locating values."""

    path: str
    data: Any
    root: yaml.Node | None


@dataclass
class LoadResult:
    document: YamlDocument | None
    problems: list[Problem] = field(default_factory=list)


def load_file(path: Path, display: str) -> LoadResult:
    """Load one YAML file strictly; problems instead of exceptions."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return _fail(
            display,
            0,
            0,
            f"is not UTF-8 text ({exc.reason} at byte {exc.start})",
            "save the file as UTF-8",
        )
    except OSError as exc:
        return _fail(
            display, 0, 0, f"cannot be read ({exc.strerror})", "check the path and permissions"
        )
    return load_text(text, display)


def load_text(text: str, display: str) -> LoadResult:
    loader = _StrictLoader(text)
    builder = _Builder(loader)
    try:
        root = loader.get_single_node()
        data = builder.build(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = f"is not valid YAML: {exc.problem or exc.context}"
        start = exc.context_mark
        if exc.problem and exc.context and start is not None and start is not mark:
            # e.g. an unclosed `{`: say where it opened, not only where the parser gave up
            what += f" ({exc.context} at line {start.line + 1}, column {start.column + 1})"
        return _fail(display, line, col, what, "fix the YAML syntax at this position")
    except yaml.YAMLError as exc:
        return _fail(display, 0, 0, f"is not valid YAML: {exc}", "fix the YAML syntax")
    except RecursionError:
        return _fail(display, 0, 0, "is nested too deeply", "flatten the YAML structure")
    finally:
        loader.dispose()
    problems = [
        Problem(
            _mark(display, node),
            _path_of(root, node) or str(node.value),
            "duplicate key: only one value can count",
            "remove or rename one of the duplicates",
        )
        for node in builder.duplicates
    ]
    problems.sort(key=lambda problem: problem.location)
    return LoadResult(YamlDocument(display, data, root), problems)


def _path_of(root: yaml.Node | None, target: yaml.Node) -> str:
    """Dotted path of a key node (for reporting duplicates; rare, so a plain walk)."""
    stack: list[tuple[yaml.Node, str]] = [(root, "")] if root is not None else []
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                step = f"{path}.{key_node.value}" if path else str(key_node.value)
                if key_node is target:
                    return step
                stack.append((value_node, step))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
    return ""


def _fail(display: str, line: int, col: int, what: str, todo: str) -> LoadResult:
    return LoadResult(None, [Problem(Location(display, line, col), "", what, todo)])


def _mark(display: str, node: yaml.Node) -> Location:
    return Location(display, node.start_mark.line + 1, node.start_mark.column + 1)


def locate(doc: YamlDocument, path: tuple[str | int, ...]) -> Location:
    """Location of the deepest existing element of `path` inside `doc`.

    For a mapping entry this is its key (where the operator looks first); for a
    path that does not exist (a missing field) it is the closest parent.
    """
    node = doc.root
    if node is None:
        return Location(doc.path, 1, 1)
    best = node
    for step in path:
        child, anchor = _child(node, step)
        if child is None:
            break
        best = anchor
        node = child
    return _mark(doc.path, best)


def find(doc: YamlDocument, path: tuple[str | int, ...]) -> Location | None:
    """Location of `path` inside `doc` if every step of it exists, else None."""
    node = doc.root
    anchor = node
    for step in path:
        if node is None:
            return None
        node, anchor = _child(node, step)
        if node is None:
            return None
    return _mark(doc.path, anchor) if anchor is not None else None


def _child(node: yaml.Node, step: str | int) -> tuple[yaml.Node | None, yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in reversed(node.value):
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                return value_node, key_node
        for key_node, value_node in node.value:  # keys reached through `<<` merges
            if key_node.tag == _MERGE_TAG:
                found, anchor = _child(value_node, step)
                if found is not None:
                    return found, anchor
    elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
        items = node.value
        if 0 <= step < len(items):
            return items[step], items[step]
    return None, node
