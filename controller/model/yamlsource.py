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
import re
import reprlib
import stat
from collections import deque
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

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64
_MAX_NUMBER = 32  # characters; the longest setting, an ASN, has 10 digits
_ALIAS_FLOOR = 500_000
_LONG_TEXT = 100  # characters of text cost downstream about what one more value costs
_ECHO = 60  # characters of a value a message quotes
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_KINDS = {_INT: "a whole number", _BOOL: "true or false", _NULL: "null"}
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULLS = frozenset({"~", "null", "Null", "NULL", ""})
_INT_RE = re.compile(r"(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)\Z")
_FORBIDDEN = yaml.reader.Reader.NON_PRINTABLE  # what YAML refuses anywhere in a stream


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


class _Refused(Exception):
    """A value the loader will not build. `node` None: at the alias, set by its holder."""

    def __init__(self, node: yaml.Node | None, what: str, todo: str) -> None:
        super().__init__(what)
        self.node = node
        self.what = what
        self.todo = todo


class _Builder:
    """Python data from a composed node tree; duplicate keys recorded, not lost silently.

    A direct walk is about twice as fast as PyYAML's generic constructor, which
    matters for 10,000-node inventories. A list or mapping is built once and shared
    by every alias to it, so building costs what the file holds, not what it expands
    to; what it expands to (which pydantic and the checks walk) is budgeted.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.limit = budget
        self.duplicates: list[yaml.Node] = []
        self.refused: dict[int, _Refused] = {}  # by node: one report for many aliases
        self.built: dict[int, Any] = {}
        self.building: set[int] = set()
        self.extents: dict[int, tuple[int, int]] = {}
        self.texts: set[int] = set()  # long scalars met so far

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        if isinstance(node, yaml.ScalarNode):
            if len(node.value) >= _LONG_TEXT:  # each alias to it is scanned again downstream
                self._repeat_text(node)
            return self._scalar(node)
        key = id(node)
        if key in self.built:
            self._repeat(node, depth)
            return self.built[key]
        if key in self.building:
            raise _Refused(
                node, "holds an alias to itself, which never ends", "point the alias elsewhere"
            )
        if depth >= MAX_DEPTH:
            raise _Refused(node, f"is nested more than {MAX_DEPTH} levels deep", _FLATTEN)
        mapping = isinstance(node, yaml.MappingNode)
        if node.tag != (_MAP if mapping else _SEQ):
            self._refuse_tag(node)
        self.building.add(key)
        try:
            data = self._mapping(node, depth) if mapping else self._sequence(node, depth)
        except _Refused as exc:
            exc.node = exc.node or node
            raise
        self.building.discard(key)
        self.built[key] = data
        return data

    def _scalar(self, node: yaml.Node) -> Any:
        tag, value = node.tag, node.value
        if tag == _STR:
            return value
        if tag == _INT and _INT_RE.match(value):
            if len(value) <= _MAX_NUMBER:
                return int(value, 0)
            digits = len(value.lstrip("+-").removeprefix("0x"))
            what = f"is a number {digits} digits long, longer than any setting"
            self._refuse(node, what, "quote it if it is text")
            return value
        if tag == _BOOL and value in _BOOLS:
            return _BOOLS[value]
        if tag == _NULL and value in _NULLS:
            return None
        self._refuse_tag(node)
        return value

    def _sequence(self, node: yaml.Node, depth: int) -> list[Any]:
        return [self.build(item, depth + 1) for item in node.value]

    def _mapping(self, node: yaml.Node, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # merged first, so explicit keys win wherever written
                self._merge(out, key_node, value_node, depth)
        explicit: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            try:
                key = self.build(key_node, depth + 1)
                value = self.build(value_node, depth + 1)
            except _Refused as exc:
                exc.node = exc.node or key_node
                raise
            if key is None or isinstance(key, bool):
                reads = "null" if key is None else str(key).lower()
                todo = f'quote it ("{key_node.value or "~"}") if it is a name, or remove it'
                self._refuse(key_node, f"is a key YAML reads as {reads}, not as a name", todo)
                continue
            try:
                repeated = key in explicit
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found an unhashable key",
                    key_node.start_mark,
                ) from None
            if repeated:
                self.duplicates.append(key_node)
            explicit.add(key)
            out[key] = value
        return out

    def _merge(self, out: dict[Any, Any], at: yaml.Node, value: yaml.Node, depth: int) -> None:
        # `<<: [*a, *b]`: the first listed wins, as in PyYAML.
        sources = value.value[::-1] if isinstance(value, yaml.SequenceNode) else [value]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise _Refused(
                    at,
                    "merges something that is not a mapping",
                    "point `<<` at a mapping or a list of mappings (<<: *anchor)",
                )
            try:
                out.update(self.build(source, depth + 1))
            except _Refused as exc:
                exc.node = exc.node or at
                raise

    def _repeat(self, node: yaml.Node, depth: int) -> None:
        """An alias to a list or mapping already built: what it adds, within bounds."""
        size, height = self._extent(node)
        if depth + height > MAX_DEPTH:
            raise _Refused(
                None, f"is nested more than {MAX_DEPTH} levels deep through aliases", _FLATTEN
            )
        self._charge(size)

    def _charge(self, size: int) -> None:
        self.budget -= size
        if self.budget < 0:
            raise _Refused(
                None,
                f"expands its aliases to more than {self.limit:,} values (an alias bomb?)",
                "repeat less through aliases; defaults and profiles share settings without them",
            )

    def _repeat_text(self, node: yaml.Node) -> None:
        if id(node) in self.texts:
            self._charge(self._extent(node)[0])
        self.texts.add(id(node))

    def _extent(self, node: yaml.Node) -> tuple[int, int]:
        """Values in `node` and levels below it, every alias in it expanded.

        A long text counts as one value per _LONG_TEXT characters: checking it costs that.
        """
        if isinstance(node, yaml.ScalarNode):
            return 1 + len(node.value) // _LONG_TEXT, 0
        known = self.extents.get(id(node))
        if known is not None:
            return known
        items = node.value
        children = (
            [n for pair in items for n in pair] if isinstance(node, yaml.MappingNode) else items
        )
        size, height = 1, 0
        for child in children:  # built already, so at most MAX_DEPTH levels of recursion
            child_size, child_height = self._extent(child)
            size += child_size
            height = max(height, child_height)
        self.extents[id(node)] = (size, height + 1)
        return size, height + 1

    def _refuse(self, node: yaml.Node, what: str, todo: str) -> None:
        self.refused.setdefault(id(node), _Refused(node, what, todo))

    def _refuse_tag(self, node: yaml.Node) -> None:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        kind = _KINDS.get(node.tag) if isinstance(node, yaml.ScalarNode) else None
        what = (
            f"is tagged {tag}, but {shown(node.value)} is not {kind}"
            if kind
            else f"has the YAML tag {tag}, which an inventory does not use"
        )
        self._refuse(node, what, "remove the tag")


_FLATTEN = "flatten it: no inventory setting nests that deep"


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
    forbidden = _FORBIDDEN.search(text)
    if forbidden:
        line, col = _position(text, forbidden.start())
        what = f"contains the character {forbidden.group()!r}, which YAML does not allow"
        return _fail(display, line, col, what, "remove it")
    loader = _StrictLoader(text)
    builder = _Builder(max(_ALIAS_FLOOR, 2 * len(text)))
    root = data = None
    try:
        root = loader.get_single_node()
        data = builder.build(root) if root is not None else None
    except _Refused as exc:
        builder.refused[id(exc)] = exc
    except yaml.MarkedYAMLError as exc:
        return _not_yaml(display, exc)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return _fail(display, 0, 0, f"is not valid YAML: {first}", "fix the YAML syntax")
    except RecursionError:  # only PyYAML's pure-Python composer recurses per level
        mark = getattr(loader, "get_mark", lambda: None)()
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return _fail(display, line, col, "is nested too deeply", _FLATTEN)
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
        return _fail(display, line, col, f"is nested too deeply ({exc.problem})", _FLATTEN)
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
        if isinstance(step, str) and (len(step) > _ECHO or not step.isprintable()):
            step = shown(step)  # a key with a newline must not split the line
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return out if len(out) <= 2 * _ECHO else out[: 2 * _ECHO] + "…"


def shown(value: object) -> str:
    """A value as a message quotes it: escaped as repr does, cut to about 60 characters."""
    brief = reprlib.Repr()
    brief.maxstring = brief.maxother = _ECHO
    try:
        text = brief.repr(value)
    except ValueError:  # an int past Python's digit limit cannot even be printed
        return "(a value too large to show)"
    return text if len(text) <= _ECHO + 2 else text[:_ECHO] + "…"


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
            if key_node.tag == _MERGE_TAG:
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
    if key_node.tag == _INT and _INT_RE.match(value) and len(value) <= _MAX_NUMBER:
        return str(int(value, 0))
    return value
