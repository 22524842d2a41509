"""Strict YAML loading that remembers where every value came from.

PyYAML's defaults are wrong for an operator's inventory:
- a duplicate key in a mapping silently keeps the last value; here it is a problem;
- YAML 1.1 turns `NO` (Norway), `on`, `yes` into booleans, `23.05` into a float
  and `22:30` into a sexagesimal integer. Here only true/false are booleans,
  plain decimal/hex integers are integers, and everything else stays text, so
  `country: NO` and `release: 23.05` mean what the operator wrote.

A broken or hostile file costs little and is refused where it goes wrong:
- only a regular file of at most MAX_FILE_BYTES is read (a named pipe is never
  waited on);
- an alias shares its anchor's value instead of copying it, and all aliases of a
  file may repeat at most max(500,000, 2 x its characters) values (a long text
  weighs one value per 100 characters): a "billion laughs" file stops at the
  alias that crosses that line;
- values nest at most MAX_DEPTH levels, aliases included, and an anchor never
  contains an alias to itself;
- a file is refused for a character YAML forbids, a key YAML reads as null or
  true/false, a number longer than any setting, or an explicit tag other than
  !!str, !!int, !!bool, !!null, !!seq and !!map.

Loading keeps the composed node tree so a problem found later (by pydantic or a
network-wide check) can be reported at its file, line and column.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controller.errors import Location, Problem
from controller.model.yamlbuild import (
    ALIAS_FLOOR,
    ECHO,
    FLATTEN,
    FORBIDDEN,
    INT_RE,
    INT_TAG,
    MAX_NUMBER,
    MERGE_TAG,
    Builder,
    Refused,
    StrictLoader,
    shown,
)

MAX_FILE_BYTES = 10 * 1024 * 1024


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


class _Unusable(Exception):
    def __init__(self, what: str, todo: str) -> None:
        super().__init__(what)
        self.what = what
        self.todo = todo


def load_file(path: Path, display: str) -> LoadResult:
    """Load one YAML file strictly; problems instead of exceptions."""
    try:
        text = _read_regular(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        return _fail(
            display,
            0,
            0,
            f"is not UTF-8 text ({exc.reason} at byte {exc.start})",
            "save the file as UTF-8",
        )
    except _Unusable as exc:
        return _fail(display, 0, 0, exc.what, exc.todo)
    except OSError as exc:
        return _fail(
            display, 0, 0, f"cannot be read ({exc.strerror})", "check the path and permissions"
        )
    return load_text(text, display)


def _read_regular(path: Path) -> bytes:
    # O_NONBLOCK: a named pipe put here since it was listed must not hang the open.
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    with os.fdopen(os.open(path, flags), "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _Unusable(
                f"is {kind_of(info.st_mode)}, not a regular file",
                "replace it with a YAML file or remove it",
            )
        data = stream.read(MAX_FILE_BYTES + 1) if info.st_size <= MAX_FILE_BYTES else b""
    if info.st_size > MAX_FILE_BYTES or len(data) > MAX_FILE_BYTES:
        raise _Unusable(
            f"is larger than {MAX_FILE_BYTES // 2**20} MiB",
            "split it into several files; no inventory file needs to be that large",
        )
    return data


def kind_of(mode: int) -> str:
    """What a file of this `st_mode` is, in words: 'a named pipe (FIFO)'."""
    for test, kind in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "a special file"


def load_text(text: str, display: str) -> LoadResult:
    forbidden = FORBIDDEN.search(text)
    if forbidden:
        line, col = _position(text, forbidden.start())
        what = f"contains the character {forbidden.group()!r}, which YAML does not allow"
        return _fail(display, line, col, what, "remove it")
    loader = StrictLoader(text)
    builder = Builder(max(ALIAS_FLOOR, 2 * len(text)))
    root = data = None
    try:
        root = loader.get_single_node()
        data = builder.build(root) if root is not None else None
    except Refused as exc:
        builder.refused[id(exc)] = exc
    except yaml.MarkedYAMLError as exc:
        return _not_yaml(display, exc)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return _fail(display, 0, 0, f"is not valid YAML: {first}", "fix the YAML syntax")
    except RecursionError:  # only PyYAML's pure-Python composer recurses per level
        mark = getattr(loader, "get_mark", lambda: None)()
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return _fail(display, line, col, "is nested too deeply", FLATTEN)
    finally:
        loader.dispose()
    problems = [
        Problem(
            _mark(display, node),
            _path_of(root, node),
            "duplicate key: only one value can count",
            "remove or rename one of the duplicates",
        )
        for node in builder.duplicates
    ]
    problems += [
        Problem(_mark(display, r.node or root), _path_of(root, r.node), r.what, r.todo)
        for r in builder.refused.values()
    ]
    problems.sort(key=lambda problem: problem.location)
    if builder.refused:
        return LoadResult(None, problems)
    return LoadResult(YamlDocument(display, data, root), problems)


def _not_yaml(display: str, exc: yaml.MarkedYAMLError) -> LoadResult:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if exc.problem and "nesting depth" in exc.problem:  # libyaml's own limit
        return _fail(display, line, col, f"is nested too deeply ({exc.problem})", FLATTEN)
    what = f"is not valid YAML: {exc.problem or exc.context}"
    start = exc.context_mark
    if exc.problem and exc.context and start is not None and start is not mark:
        # e.g. an unclosed `{`: say where it opened, not only where the parser gave up
        what += f" ({exc.context} at line {start.line + 1}, column {start.column + 1})"
    return _fail(display, line, col, what, "fix the YAML syntax at this position")


def _position(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _path_of(root: yaml.Node | None, target: yaml.Node | None) -> str:
    """Dotted path of a key, value or item node (for reporting: rare, so a plain walk)."""
    # Breadth first: the shortest path names a shared (anchored) node where it is defined.
    queue: deque[tuple[yaml.Node, tuple[str | int, ...]]] = deque([(root, ())] if root else [])
    seen: set[int] = set()  # aliases make a graph: visit each node once
    while queue:
        node, path = queue.popleft()
        if node is target:
            return dotted(path)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                step = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                if key_node is target:
                    return dotted((*path, step))
                queue.append((value_node, (*path, step)))
        elif isinstance(node, yaml.SequenceNode):
            queue.extend((item, (*path, i)) for i, item in enumerate(node.value))
    return ""


def dotted(path: tuple[str | int, ...]) -> str:
    """`nodes.gw-north.access_points[0].ssid`: the field path an operator reads."""
    out = ""
    for step in path:
        if isinstance(step, str) and (len(step) > ECHO or not step.isprintable()):
            step = shown(step)  # a key with a newline must not split the line
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return out if len(out) <= 2 * ECHO else out[: 2 * ECHO] + "…"


def _fail(display: str, line: int, col: int, what: str, todo: str) -> LoadResult:
    return LoadResult(None, [Problem(Location(display, line, col), "", what, todo)])


def _mark(display: str, node: yaml.Node | None) -> Location:
    if node is None:
        return Location(display, 1, 1)
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
            if isinstance(key_node, yaml.ScalarNode) and _key_text(key_node) == str(step):
                return value_node, key_node
        for key_node, value_node in reversed(node.value):  # keys reached through `<<`
            if key_node.tag == MERGE_TAG:
                merged = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in merged:  # the first listed wins
                    found, anchor = _child(source, step)
                    if found is not None:
                        return found, anchor
    elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
        items = node.value
        if 0 <= step < len(items):
            return items[step], items[step]
    return None, node


def _key_text(key_node: yaml.Node) -> str:
    """A key as the data spells it: `0x10:` is the key 16."""
    value = str(key_node.value)
    if key_node.tag == INT_TAG and INT_RE.match(value) and len(value) <= MAX_NUMBER:
        return str(int(value, 0))
    return value
