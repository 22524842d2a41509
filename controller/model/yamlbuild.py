"""Python data from a composed YAML node tree, strictly and at bounded cost.

The loader resolves plain scalars by YAML 1.2's core schema (minus floats);
the builder shares an anchor's value among its aliases, bounds what aliases
may repeat and how deep values nest, and records duplicate keys
(controller/model/yamlsource.py reports them with their positions).
"""

from __future__ import annotations

import re
import reprlib
from typing import Any

import yaml

_BaseLoader: type[yaml.SafeLoader]
try:
    _BaseLoader = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml: same behaviour, slower
    _BaseLoader = yaml.SafeLoader

MAX_DEPTH = 64
ECHO = 60  # characters of a value a message quotes
FLATTEN = "flatten it: no inventory setting nests that deep"
MAX_NUMBER = 32  # characters; the longest setting, an ASN, has 10 digits
ALIAS_FLOOR = 500_000
_LONG_TEXT = 100  # characters of text cost downstream about what one more value costs
MERGE_TAG = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
INT_TAG = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_KINDS = {INT_TAG: "a whole number", _BOOL: "true or false", _NULL: "null"}
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULLS = frozenset({"~", "null", "Null", "NULL", ""})
INT_RE = re.compile(r"(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)\Z")
FORBIDDEN = yaml.reader.Reader.NON_PRINTABLE  # what YAML refuses anywhere in a stream


class StrictLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader whose plain scalars follow YAML 1.2's core schema (minus floats)."""

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                if value in _BOOLS:
                    return _BOOL
                if value in _NULLS:
                    return _NULL
                if INT_RE.match(value):
                    return INT_TAG
                if value == "<<":
                    return MERGE_TAG
            return _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP


class Refused(Exception):
    """A value the loader will not build. `node` None: at the alias, set by its holder."""

    def __init__(self, node: yaml.Node | None, what: str, todo: str) -> None:
        super().__init__(what)
        self.node = node
        self.what = what
        self.todo = todo


class Builder:
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
        self.refused: dict[int, Refused] = {}  # by node: one report for many aliases
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
            raise Refused(
                node, "holds an alias to itself, which never ends", "point the alias elsewhere"
            )
        if depth >= MAX_DEPTH:
            raise Refused(node, f"is nested more than {MAX_DEPTH} levels deep", FLATTEN)
        mapping = isinstance(node, yaml.MappingNode)
        if node.tag != (_MAP if mapping else _SEQ):
            self._refuse_tag(node)
        self.building.add(key)
        try:
            data = self._mapping(node, depth) if mapping else self._sequence(node, depth)
        except Refused as exc:
            exc.node = exc.node or node
            raise
        self.building.discard(key)
        self.built[key] = data
        return data

    def _scalar(self, node: yaml.Node) -> Any:
        tag, value = node.tag, node.value
        if tag == _STR:
            return value
        if tag == INT_TAG and INT_RE.match(value):
            if len(value) <= MAX_NUMBER:
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
            if key_node.tag == MERGE_TAG:  # merged first, so explicit keys win wherever written
                self._merge(out, key_node, value_node, depth)
        explicit: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            try:
                key = self.build(key_node, depth + 1)
                value = self.build(value_node, depth + 1)
            except Refused as exc:
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
                raise Refused(
                    at,
                    "merges something that is not a mapping",
                    "point `<<` at a mapping or a list of mappings (<<: *anchor)",
                )
            try:
                out.update(self.build(source, depth + 1))
            except Refused as exc:
                exc.node = exc.node or at
                raise

    def _repeat(self, node: yaml.Node, depth: int) -> None:
        """An alias to a list or mapping already built: what it adds, within bounds."""
        size, height = self._extent(node)
        if depth + height > MAX_DEPTH:
            raise Refused(
                None, f"is nested more than {MAX_DEPTH} levels deep through aliases", FLATTEN
            )
        self._charge(size)

    def _charge(self, size: int) -> None:
        self.budget -= size
        if self.budget < 0:
            raise Refused(
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
        self.refused.setdefault(id(node), Refused(node, what, todo))

    def _refuse_tag(self, node: yaml.Node) -> None:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        kind = _KINDS.get(node.tag) if isinstance(node, yaml.ScalarNode) else None
        what = (
            f"is tagged {tag}, but {shown(node.value)} is not {kind}"
            if kind
            else f"has the YAML tag {tag}, which an inventory does not use"
        )
        self._refuse(node, what, "remove the tag")


def shown(value: object) -> str:
    """A value as a message quotes it: escaped as repr does, cut to about 60 characters."""
    brief = reprlib.Repr()
    brief.maxstring = brief.maxother = ECHO
    try:
        text = brief.repr(value)
    except ValueError:  # an int past Python's digit limit cannot even be printed
        return "(a value too large to show)"
    return text if len(text) <= ECHO + 2 else text[:ECHO] + "…"
