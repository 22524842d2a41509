"""The journal's lines: each round a keyframe (the full round) or a delta (what changed).

One JSON object per line, compact, ASCII, ending in `"z"`, the CRC32 of the line
without it. A round as agent/journal.py's read() yields it (a Record) is

    {"t": 1767225600.123, "p": [[tier, target, kind, uplink, ok, duration(, failure)], ...],
     "v": [[class, uplink, target, platform, layer], ...]}

(ok 0/1, duration in seconds or null, the failure string after a failed probe;
`v` the verdict's findings active in the round). On flash it is one of:

    keyframe {"t":1767225600.123,"p":[[...],...],"v":[[...]],"z":"1a2b3c4d"}
    delta    {"s":60002,"d":[item,...],"g":[id,...],"v":[[...]],"z":"5e6f7a8b"}

A keyframe is the whole round, readable alone: its CRC is seeded with 0. In its
rows (and in a delta's items) each of tier, target, kind, uplink and failure is
either the string, the first time it is written since the keyframe, or the
index of that string among the ones written so far (in order of first writing:
"generic_timeout_error" costs 23 bytes once, then 1 or 2). Verdict strings are
always written out. A line of the previous format (one full round, no indices)
is a keyframe too.

A delta holds only what differs from the round before it: `s` the time since
that round in whole milliseconds, `v` the findings only when they changed, `g`
the ids of rows that were in the round before and are not in this one, and `d`
one item per row that is new, back, or changed, in the round's row order:

    [id]                                 the row is back as it last was
    [id, duration]                       only the duration changed
    [id, ok, duration(, failure)]        the state changed, or the row is back
    [pos, tier, target, kind, uplink, ok, duration(, failure)]   a row never seen
                                         since the keyframe: it gets the next id
                                         and goes in at `pos` of the row order

Rows keep their order: every row ever seen since the keyframe has a place in one
order (a new row is put right after the row before it in its round), and a
round's rows are those present, in that order; a round whose order differs is
written as a keyframe. A delta's CRC is seeded with the CRC of the line before
it, so a delta is intact only right after the very line it was written after: a
line lost, garbled, duplicated or out of order breaks the chain, and every delta
up to the next keyframe is skipped, never applied to the wrong round.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping
from typing import Any

from agent.contract import VERDICT_LABELS

Record = dict[str, Any]  # a round: {"t": float, "p": [row, ...], "v": [finding, ...]}
Key = tuple[str, str, str, str]  # tier, target, kind, uplink
State = tuple[int, float | None, str]  # ok, duration, failure ("" when none)

_CHECK = b',"z":"'  # a line ends: _CHECK + 8 hex digits + b'"}\n'
_TAIL = len(_CHECK) + 8 + 3
_MAX_STEP = 10**15  # milliseconds between two rounds (30,000 years): beyond, not a time
_BROKEN = (ValueError, TypeError, IndexError, KeyError, OverflowError, RecursionError)


class Codec:
    """One chain of lines. `encode` on the writing side and `decode` on the reading
    side keep the same state: the round last written (or read), the rows seen since
    the keyframe and the strings written since it. A fresh Codec (or one whose chain
    broke: `crc` None) writes, and accepts, a keyframe first."""

    def __init__(self, keyframe_every: int = 0) -> None:
        self.keyframe_every = keyframe_every  # a keyframe at least every so many rounds; 0: never
        self.crc: int | None = None  # the CRC of the last line; None: a keyframe must come
        self._reset(0.0)

    def _reset(self, t: float) -> None:
        self.t = t
        self.since = 0  # rounds since the keyframe
        self.keys: list[Key] = []  # by id
        self.states: list[State] = []  # by id: the last state written
        self.ids: dict[Key, int] = {}
        self.places: list[int] = []  # every id in row order
        self.order: list[int] = []  # the ids of the last round, in row order
        self.findings: list[list[str]] = []
        self.strings: list[str] = []
        self.index: dict[str, int] = {}

    # -- writing -----------------------------------------------------------------

    def encode(self, record: Mapping[str, Any], *, keyframe: bool = False) -> bytes:
        """The line for `record` after the lines encoded so far: a delta where one can
        say it, else a keyframe. `record` must be well formed (agent.journal makes it)."""
        due = bool(self.keyframe_every) and self.since + 1 >= self.keyframe_every
        if not (keyframe or due or self.crc is None):
            line = self._delta(record)
            if line is not None:
                return line
        return self._keyframe(record)  # resets whatever a refused delta left behind

    def _keyframe(self, record: Mapping[str, Any]) -> bytes:
        self._reset(record["t"])
        rows = []
        for row in record["p"]:
            key, state = _key(row), _state(row)
            self._add(key, state, len(self.places))
            rows.append([*map(self._ref, key), *self._written(state)])
        self.order = list(self.places)
        self.findings = [list(finding) for finding in record["v"]]
        return self._seal({"t": self.t, "p": rows, "v": self.findings}, 0)

    def _delta(self, record: Mapping[str, Any]) -> bytes | None:
        rows = record["p"]
        t, step = record["t"], round((record["t"] - self.t) * 1000)
        if round(self.t + step / 1000, 3) != t:  # not in whole milliseconds
            return None
        before, now, items = set(self.order), list[int](), list[list[Any]]()
        for row in rows:
            key, state = _key(row), _state(row)
            ident = self.ids.get(key)
            if ident is None:
                place = self.places.index(now[-1]) + 1 if now else 0
                ident = self._add(key, state, place)
                items.append([place, *map(self._ref, key), *self._written(state)])
            else:
                old = self.states[ident]
                if ident not in before and old == state:
                    items.append([ident])
                elif ident not in before or old[0] != state[0] or old[2] != state[2]:
                    items.append([ident, *self._written(state)])
                elif old[1] != state[1]:
                    items.append([ident, state[1]])
                self.states[ident] = state
            now.append(ident)
        present = set(now)
        if len(present) != len(now) or [i for i in self.places if i in present] != now:
            return None  # a key twice, or rows in another order: only a keyframe says it
        body: dict[str, Any] = {"s": step}
        if items:
            body["d"] = items
        if gone := sorted(before - present):
            body["g"] = gone
        findings = [list(finding) for finding in record["v"]]
        if findings != self.findings:
            body["v"] = self.findings = findings
        self.t, self.order = t, now
        self.since += 1
        assert self.crc is not None  # noqa: S101 - encode() checked it
        return self._seal(body, self.crc)

    def _ref(self, text: str) -> str | int:
        index = self.index.get(text)
        if index is None:
            self.index[text] = len(self.strings)
            self.strings.append(text)
            return text
        return index

    def _written(self, state: State) -> list[Any]:
        ok, duration, failure = state
        return [ok, duration, self._ref(failure)] if failure else [ok, duration]

    def _seal(self, body: Mapping[str, Any], seed: int) -> bytes:
        line, self.crc = seal(body, seed)
        return line

    # -- reading -----------------------------------------------------------------

    def decode(self, line: bytes) -> Record | None:
        """The round in `line` (with its newline), read after the lines before it; None
        when it is not intact, or is a delta whose chain is broken: then every delta is
        None until the next keyframe. Never raises."""
        try:
            record = self._decode(line)
        except _BROKEN:
            record = None
        if record is None:
            self.crc = None
        return record

    def _decode(self, line: bytes) -> Record | None:
        if len(line) <= _TAIL or line[-_TAIL:-11] != _CHECK or line[-3:] != b'"}\n':
            return None
        body, check = line[:-_TAIL] + b"}", line[-11:-3]
        if b"%08x" % zlib.crc32(body) == check:
            data = json.loads(body)
            if isinstance(data, dict) and set(data) == {"t", "p", "v"}:
                return self._read_keyframe(data, int(check, 16))
        if self.crc is not None and b"%08x" % zlib.crc32(body, self.crc) == check:
            data = json.loads(body)
            if isinstance(data, dict) and "s" in data and set(data) <= {"s", "d", "g", "v"}:
                return self._read_delta(data, int(check, 16))
        return None

    def _read_keyframe(self, data: dict[str, Any], crc: int) -> Record | None:
        if not _number(data["t"]) or not isinstance(data["p"], list):
            return None
        self._reset(data["t"])
        for row in data["p"]:
            if not isinstance(row, list) or len(row) not in (6, 7):
                return None
            key = self._read_key(row[:4])
            self._add(key, self._read_state(row[4:]), len(self.places))
        self.order = list(self.places)
        self.findings = _findings(data["v"])
        self.crc = crc
        return self._round()

    def _read_delta(self, data: dict[str, Any], crc: int) -> Record | None:
        step, items, gone = data["s"], data.get("d", []), data.get("g", [])
        if type(step) is not int or abs(step) > _MAX_STEP:
            return None
        t = round(self.t + step / 1000, 3)
        if not _number(t) or not isinstance(items, list) or not isinstance(gone, list):
            return None
        before = set(self.order)
        present = before - set(gone)
        if (
            len(set(gone)) != len(gone)
            or not set(gone) <= before
            or any(type(i) is not int for i in gone)
        ):
            return None
        listed = set[int]()
        for item in items:
            if not isinstance(item, list) or not item or type(item[0]) is not int:
                return None
            if len(item) in (7, 8):  # a new row
                place = item[0]
                key = self._read_key(item[1:5])
                if not 0 <= place <= len(self.places) or key in self.ids:
                    return None
                ident = self._add(key, self._read_state(item[5:]), place)
            else:
                ident = item[0]
                if not 0 <= ident < len(self.keys) or ident in gone:
                    return None
                if len(item) == 1:  # back as it was when last written
                    if ident in before:
                        return None
                elif len(item) == 2:  # the duration alone: the row was there and stays
                    if ident not in before or not _duration(item[1]):
                        return None
                    ok, _, failure = self.states[ident]
                    self.states[ident] = (ok, item[1], failure)
                elif len(item) in (3, 4):
                    self.states[ident] = self._read_state(item[1:])
                else:
                    return None
            if ident in listed:
                return None
            listed.add(ident)
            present.add(ident)
        if "v" in data:
            self.findings = _findings(data["v"])
        self.t, self.order = t, [i for i in self.places if i in present]
        self.since += 1
        self.crc = crc
        return self._round()

    def _deref(self, value: Any) -> str:
        if type(value) is str:
            self.index.setdefault(value, len(self.strings))
            self.strings.append(value)
            return value
        if type(value) is int and 0 <= value < len(self.strings):
            return self.strings[value]
        raise ValueError("neither a string nor the index of one")

    def _read_key(self, fields: list[Any]) -> Key:
        tier, target, kind = self._deref(fields[0]), self._deref(fields[1]), self._deref(fields[2])
        return (tier, target, kind, self._deref(fields[3]))  # in order: each may add a string

    def _read_state(self, fields: list[Any]) -> State:
        ok, duration = fields[0], fields[1]
        if type(ok) is not int or ok not in (0, 1) or not _duration(duration):
            raise ValueError("not a probe's state")
        return (ok, duration, self._deref(fields[2]) if len(fields) == 3 else "")

    # -- both --------------------------------------------------------------------

    def _add(self, key: Key, state: State, place: int) -> int:
        ident = len(self.keys)
        self.keys.append(key)
        self.states.append(state)
        self.ids[key] = ident
        self.places.insert(place, ident)
        return ident

    def _round(self) -> Record:
        rows = []
        for ident in self.order:
            ok, duration, failure = self.states[ident]
            rows.append([*self.keys[ident], ok, duration, *([failure] if failure else [])])
        return {"t": self.t, "p": rows, "v": [list(finding) for finding in self.findings]}


def seal(body: Mapping[str, Any], seed: int = 0) -> tuple[bytes, int]:
    """`body` as a line, its CRC32 (seeded with `seed`) as the last key; and that CRC."""
    text = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    crc = zlib.crc32(text, seed)
    return b'%s%s%08x"}\n' % (text[:-1], _CHECK, crc), crc


def _key(row: list[Any]) -> Key:
    return (row[0], row[1], row[2], row[3])


def _state(row: list[Any]) -> State:
    return (row[4], row[5], row[6] if len(row) > 6 else "")


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and value >= 0


def _duration(value: Any) -> bool:
    return value is None or _number(value)


def _findings(value: Any) -> list[list[str]]:
    if not isinstance(value, list) or not all(
        isinstance(f, list) and len(f) == len(VERDICT_LABELS) and all(type(s) is str for s in f)
        for f in value
    ):
        raise ValueError("not a verdict's findings")
    return value
