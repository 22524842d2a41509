"""A bounded journal of probe rounds on flash, so a shutdown's history reaches Prometheus later.

While the country is cut off, the NOC may not reach a node either, and what a
node measured in that time would be lost with the scrapes that never came.
The journal keeps it on the router (ARCHITECTURE.md: "agents keep a journal so
history across a cut can be backfilled"): `export_openmetrics(journal.read(since,
until), out)` writes it as OpenMetrics with timestamps, for
`promtool tsdb create-blocks-from openmetrics FILE DATA_DIR` at the NOC.

Flash is small and wears out. Rounds are buffered in RAM and appended in batches,
one write and one fsync every `flush_every` seconds, at once when the verdict
changes (a change is rare, and the reason the journal exists) and on `flush()`.
A crash loses at most the unflushed rounds. Two files, `journal.current` and
`journal.previous`, each at most max_bytes/2: when current would outgrow that it
replaces previous, so the journal never holds more than max_bytes and keeps the
newest history (30 probes a round at ~55 bytes each: 512 KiB hold the last 2.5
to 5 hours of one-minute rounds).

One JSON object per line, compact, ASCII (a record of a round):

    {"t":1700000000.0,"p":[[tier,target,kind,uplink,ok,duration(,failure)],...],
     "v":[[class,uplink,target,platform,layer],...],"z":"1a2b3c4d"}

`p` holds the round's probe results (ok 0/1, duration in seconds or null, the
failure string after a failed one), `v` the verdict's findings active in that
round (agent/contract.py VERDICT_LABELS, "" where a label does not apply), and
`z` the CRC32 of the line without it. A power cut leaves at worst a torn last
line; the reader skips it, and any line whose check fails (flash garbage, a
half-written block of zeroes), and never raises; the writer starts a new line
after a torn one. Files are 0600, opened with O_NOFOLLOW relative to the
directory, and must be regular files: a planted symlink or FIFO is refused.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import stat
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from agent.contract import M_PROBE_DURATION, M_PROBE_SUCCESS, M_VERDICT, VERDICT_LABELS

if TYPE_CHECKING:
    from agent.probes.base import Result

CURRENT = "journal.current"
PREVIOUS = "journal.previous"
Record = dict[str, Any]  # a line as read(): {"t": float, "p": [...], "v": [...]}
Finding = Mapping[str, str]  # a verdict's labels (VERDICT_LABELS) that are active, value 1
Series = tuple[str, ...]

_CHECK = b',"z":"'  # the line ends: _CHECK + 8 hex digits + b'"}\n'
_TAIL = len(_CHECK) + 8 + 3
_OPEN = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a planted FIFO never hangs us
_APPEND = os.O_RDWR | os.O_APPEND | os.O_CREAT | _OPEN
_READ = os.O_RDONLY | _OPEN
_PROBE_LABELS = ("tier", "target", "kind", "uplink")
_HELP = {
    M_PROBE_SUCCESS: "Whether the probe succeeded (1) or not (0).",
    M_PROBE_DURATION: "How long the probe took.",
    M_VERDICT: "The shutdown verdict's findings: 1 while active, from the agent's journal.",
}


class Journal:
    """Rounds in RAM, then on flash in batches. Never raises for the flash: a failed
    write keeps the batch for the next flush (bounded) and says why in `error`."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int = 512 * 1024,
        flush_every: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes < 4096:
            raise ValueError("a journal under 4 KiB holds no round worth keeping")
        self.directory = directory
        self.max_bytes = max_bytes
        self.flush_every = flush_every
        self._clock = clock
        self._half = max_bytes // 2
        self._pending: list[bytes] = []
        self._active: frozenset[Series] = frozenset()
        self._flushed_at = clock()
        self.writes = 0  # batches appended (one write + fsync each): the flash's wear
        self.dropped = 0  # rounds lost: longer than a file, or flash failing too long
        self.error: str | None = None  # why the last flush failed; None once one succeeds

    def record_round(
        self,
        results: Sequence[Result],
        findings: Sequence[Finding],
        timestamp: float | None = None,
        *,
        changed: bool | None = None,
    ) -> None:
        """Keep one round: its results and the findings active in it (the clock's now
        unless `timestamp`). Flushes at once when the verdict changed: the caller's
        `changed` if given, else whether the findings differ from the last round's."""
        active = [[str(finding.get(label, "")) for label in VERDICT_LABELS] for finding in findings]
        when = self._clock() if timestamp is None else timestamp
        line = encode({"t": round(when, 3), "p": [_row(r) for r in results], "v": active})
        if len(line) >= self._half:  # could never fit a file (+1: a torn line's newline)
            self.dropped += 1
            return
        self._pending.append(line)
        now_active = frozenset(map(tuple, active))
        if changed is None:
            changed = now_active != self._active
        self._active = now_active
        elapsed = self._clock() - self._flushed_at
        if elapsed < 0:  # the clock stepped back (NTP after boot): count from now
            self._flushed_at = self._clock()
        if changed or elapsed >= self.flush_every or self._buffered() >= self._half:
            self.flush()

    def flush(self) -> bool:
        """Append what is buffered (one write + fsync, two when a file fills up)."""
        self._flushed_at = self._clock()
        if not self._pending:
            return True
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                while self._pending:
                    self._append(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            self.error = f"{self.directory}: {exc.strerror or exc}"
            while self._buffered() > self._half:  # flash failing for long: oldest go first
                self._pending.pop(0)
                self.dropped += 1
            return False
        self.error = None
        return True

    def read(self, since: float | None = None, until: float | None = None) -> Iterator[Record]:
        """Every intact round from previous, current, then the unflushed buffer, in the
        order recorded, with since <= t <= until. Skips what is torn or garbage."""
        unflushed = (decode(line) for line in list(self._pending))
        for record in itertools.chain(
            _records(self.directory, PREVIOUS, self.max_bytes),
            _records(self.directory, CURRENT, self.max_bytes),
            (record for record in unflushed if record is not None),
        ):
            if (since is None or record["t"] >= since) and (until is None or record["t"] <= until):
                yield record

    def _buffered(self) -> int:
        return sum(map(len, self._pending))

    def _append(self, directory: int) -> None:
        """Append the lines that fit current; if none fits, current becomes previous."""
        fd = os.open(CURRENT, _APPEND, 0o600, dir_fd=directory)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(f"{CURRENT} is not a regular file")
            room, taken = self._half - info.st_size - 1, 0
            while taken < len(self._pending) and len(self._pending[taken]) <= room:
                room -= len(self._pending[taken])
                taken += 1
            if taken:
                data = b"".join(self._pending[:taken])
                if info.st_size and os.pread(fd, 1, info.st_size - 1) != b"\n":
                    data = b"\n" + data  # after a torn line: start a fresh one
                _write_all(fd, data)
                os.fsync(fd)
                if not info.st_size:  # a new file: its name must survive a power cut too
                    os.fsync(directory)
                self.writes += 1
                del self._pending[:taken]
                return
        finally:
            os.close(fd)
        if info.st_size > self._half:  # from a larger max_bytes: keeping it breaks the cap
            os.unlink(CURRENT, dir_fd=directory)
        else:
            os.rename(CURRENT, PREVIOUS, src_dir_fd=directory, dst_dir_fd=directory)
        os.fsync(directory)


def encode(record: Mapping[str, Any]) -> bytes:
    """One journal line: compact ASCII JSON, its CRC32 as the last key, a newline."""
    body = json.dumps(record, separators=(",", ":"), allow_nan=False).encode()
    return b'%s%s%08x"}\n' % (body[:-1], _CHECK, zlib.crc32(body))


def decode(line: bytes) -> Record | None:
    """The record of a journal line (with its newline), or None if it is not intact."""
    if len(line) <= _TAIL or line[-_TAIL:-11] != _CHECK or line[-3:] != b'"}\n':
        return None
    body = line[:-_TAIL] + b"}"
    if b"%08x" % zlib.crc32(body) != line[-11:-3]:
        return None
    try:
        record = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return record if _intact(record) else None


def _records(directory: Path, name: str, limit: int) -> Iterator[Record]:
    try:
        fd = os.open(directory / name, _READ)
    except OSError:
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        data = _read_at_most(fd, limit)
    except OSError:
        return
    finally:
        os.close(fd)
    for line in data.split(b"\n")[:-1]:  # the last piece has no newline: torn, or empty
        record = decode(line + b"\n")
        if record is not None:
            yield record


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    while limit > 0 and (chunk := os.read(fd, min(limit, 65536))):
        chunks.append(chunk)
        limit -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _row(result: Result) -> list[Any]:
    duration = result.duration
    row: list[Any] = [result.tier, result.target, result.kind, result.uplink, int(result.ok)]
    row.append(round(duration, 4) if math.isfinite(duration) and duration >= 0 else None)
    if not result.ok and result.failure:
        row.append(result.failure)
    return row


def _strings(items: Any, count: int) -> bool:
    return isinstance(items, list) and len(items) == count and all(type(i) is str for i in items)


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and value >= 0


def _intact(record: Any) -> bool:
    """The shape encode() writes: anything else (an older format, a bit flip that kept
    the CRC) is skipped, so readers may index records without checking."""
    if not isinstance(record, dict) or set(record) != {"t", "p", "v"} or not _number(record["t"]):
        return False
    rows, findings = record["p"], record["v"]
    return (
        isinstance(rows, list)
        and isinstance(findings, list)
        and all(_intact_row(row) for row in rows)
        and all(_strings(finding, len(VERDICT_LABELS)) for finding in findings)
    )


def _intact_row(row: Any) -> bool:
    return (
        isinstance(row, list)
        and len(row) in (6, 7)
        and _strings(row[:4], 4)
        and type(row[4]) is int
        and row[4] in (0, 1)
        and (row[5] is None or _number(row[5]))
        and (len(row) == 6 or type(row[6]) is str)
    )


def export_openmetrics(records: Iterable[Mapping[str, Any]], out: TextIO) -> int:
    """Write `records` (as Journal.read yields them, in order) as OpenMetrics text with
    timestamps; return the number of samples. Each family is written whole, each series
    in increasing time: a record not later than the one before (the clock stepped back)
    is left out. The verdict gauge is 1 for each finding active in a round, and 0 in the
    first round after one stops being active; then the series ends. Memory: every
    sample is held until the end (a journal is at most max_bytes)."""
    success: dict[Series, list[tuple[float, float]]] = {}
    duration: dict[Series, list[tuple[float, float]]] = {}
    verdict: dict[Series, list[tuple[float, float]]] = {}
    last, previous = -math.inf, set[Series]()
    for record in records:
        t = float(record["t"])
        if t <= last:
            continue
        last = t
        for row in record["p"]:
            key = tuple(row[:4])
            _add(success, key, t, float(row[4]))
            if row[5] is not None:
                _add(duration, key, t, float(row[5]))
        active = {tuple(finding) for finding in record["v"]}
        for key in active:
            _add(verdict, key, t, 1.0)
        for key in previous - active:
            _add(verdict, key, t, 0.0)
        previous = active
    families = (
        (M_PROBE_SUCCESS, _PROBE_LABELS, success),
        (M_PROBE_DURATION, _PROBE_LABELS, duration),
        (M_VERDICT, VERDICT_LABELS, verdict),
    )
    samples = 0
    for name, labels, series in families:
        if series:
            out.write(f"# HELP {name} {_HELP[name]}\n# TYPE {name} gauge\n")
            out.write(f"# UNIT {name} seconds\n" if name.endswith("_seconds") else "")
        for key in sorted(series):
            shown = ",".join(f'{k}="{_escape(v)}"' for k, v in zip(labels, key, strict=True))
            for t, value in series[key]:
                out.write(f"{name}{{{shown}}} {value!r} {t!r}\n")
                samples += 1
    out.write("# EOF\n")
    return samples


def _add(
    series: dict[Series, list[tuple[float, float]]], key: Series, t: float, value: float
) -> None:
    points = series.setdefault(key, [])
    if not points or points[-1][0] < t:  # one sample per series and round
        points.append((t, value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
