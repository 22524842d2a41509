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
newest history: at least a half's worth (right after a rotation), at most all.

A shutdown lasts days, so a round is written as what changed since the round
before (agent/journal_codec.py has the format): a keyframe with the whole round
starts every file and comes at least every `keyframe_every` rounds (60: an hour
at one-minute rounds); in between, a delta holds the time, the rows whose state
(ok, failure) changed or that came or went, and the findings when they changed.
A duration is recorded when its probe's state changes, or when it moves more
than DURATION_TOLERANCE (25 %) or DURATION_FLOOR (5 ms) from the one recorded;
otherwise the recorded one stands: read() gives each round's durations within
that of what was measured (to 3 significant digits).

Measured (test_a_steady_round_costs_little_and_512_kib_hold_days_of_a_shutdown:
the example network's gateway, 29 probes a round with the downloads every 5th,
durations jittering ±20 %, one round a minute; means over 5 x 10 hours):
    a delta where nothing changed but the time                27 bytes
    a steady healthy round (a few durations move)             41 bytes (at most 134)
    a steady shutdown round (the same 19 probes time out)     36 bytes (at most 101)
    a keyframe: the healthy round / the shutdown round     ~820 / ~877 bytes
    with a keyframe an hour: healthy / shutdown, a round      54 / 50 bytes
So 512 KiB hold 3.6 days of a steady shutdown right after a rotation (previous
alone) and 7.3 days before one; whole rounds (1.8 KB each) held 2.4 to 4.8 hours.

What a damaged line costs. A power cut leaves at worst a torn last line; after
it, and whenever current is not as this process left it (a restart, something
else wrote, a failed write), the writer starts a fresh line with a keyframe, so
the torn round alone is lost. A line garbled later (flash garbage, a bit flip)
loses its round and every round after it up to the next keyframe of that file:
at most `keyframe_every` rounds. A lost previous file costs nothing more: each
file starts with a keyframe. The reader checks every line's CRC32, and a delta's
chains to the line before it, so a delta is never applied to any round but the
one it was written after; it skips what fails and never raises. Files are 0600,
opened with O_NOFOLLOW relative to the directory, and must be regular files: a
planted symlink or FIFO is refused.
"""

from __future__ import annotations

import itertools
import math
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from agent.contract import M_PROBE_DURATION, M_PROBE_SUCCESS, M_VERDICT, VERDICT_LABELS
from agent.journal_codec import Codec, Key, Record, State

if TYPE_CHECKING:
    from agent.probes.base import Result

__all__ = ["CURRENT", "PREVIOUS", "Journal", "Record", "decode", "encode", "export_openmetrics"]

CURRENT = "journal.current"
PREVIOUS = "journal.previous"
KEYFRAME_EVERY = 60  # rounds: what a garbled line can cost at most
DURATION_TOLERANCE = 0.25  # a duration moving less (relative) keeps the one recorded
DURATION_FLOOR = 0.005  # seconds: nor one moving less than this
Finding = Mapping[str, str]  # a verdict's labels (VERDICT_LABELS) that are active, value 1
Series = tuple[str, ...]

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
        keyframe_every: int = KEYFRAME_EVERY,
    ) -> None:
        if max_bytes < 4096:
            raise ValueError("a journal under 4 KiB holds no round worth keeping")
        if keyframe_every < 1:
            raise ValueError("keyframe_every: at least 1 (every round a keyframe)")
        self.directory = directory
        self.max_bytes = max_bytes
        self.flush_every = flush_every
        self.keyframe_every = keyframe_every
        self._clock = clock
        self._half = max_bytes // 2
        self._pending: list[bytes] = []  # one chain, its first line a keyframe
        self._buffer = Codec()  # the chain's state after its last line
        self._file: Codec | None = None  # journal.current's chain, while we know its end
        self._file_size = 0  # journal.current's size after our last append
        self._held: dict[Key, State] = {}  # each probe's state as last recorded
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
        if not _number(when):  # no time, no sample
            self.dropped += 1
            return
        record = {"t": round(when, 3), "p": self._rows(results), "v": active}
        # A round is a keyframe somewhere (first in a file): one that could never fit a
        # file is dropped (+1: a torn line's newline).
        if _keyframe_size(record, self._half) >= self._half:
            self.dropped += 1
            return
        self._pending.append(self._buffer.encode(record))
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
            while self._buffered() > self._half and len(self._pending) > 1:
                # flash failing for long: the oldest go first (what stays is chained
                # anew from a keyframe, so this may take a second pass)
                excess = self._buffered() - self._half
                skip = min(_prefix(self._pending, excess), len(self._pending) - 1)
                self._rebase(skip)
                self.dropped += skip
            return False
        self.error = None
        return True

    def read(self, since: float | None = None, until: float | None = None) -> Iterator[Record]:
        """Every round that can be rebuilt, from previous, current, then the unflushed
        buffer, in the order recorded, with since <= t <= until. Skips what is torn or
        garbage, and each delta after it up to the next keyframe. Never raises."""
        for record in itertools.chain(
            _records(self.directory, PREVIOUS, self.max_bytes),
            _records(self.directory, CURRENT, self.max_bytes),
            self._unflushed(),
        ):
            if (since is None or record["t"] >= since) and (until is None or record["t"] <= until):
                yield record

    def _rows(self, results: Sequence[Result]) -> list[list[Any]]:
        """The rows of a round: a duration is kept as last recorded while the probe's
        state is the same and the duration within DURATION_TOLERANCE of it."""
        rows, held = [], {}
        for result in results:
            key = (result.tier, result.target, result.kind, result.uplink)
            ok, failure = int(result.ok), "" if result.ok else result.failure
            duration = _quantise(result.duration)
            last = self._held.get(key)
            if last is not None and last[0] == ok and last[2] == failure:
                kept = last[1]
                if duration is None or kept is None:
                    pass
                elif abs(duration - kept) <= max(DURATION_TOLERANCE * kept, DURATION_FLOOR):
                    duration = kept
            held[key] = (ok, duration, failure)
            rows.append([*key, ok, duration, *([failure] if failure else [])])
        self._held = held  # only this round's: a row that comes back is written whole anyway
        return rows

    def _unflushed(self) -> Iterator[Record]:
        codec = Codec()
        for line in list(self._pending):
            record = codec.decode(line)
            if record is not None:
                yield record

    def _rebase(self, skip: int) -> None:
        """Forget the buffer's oldest `skip` rounds; chain the rest anew from a keyframe."""
        if skip >= len(self._pending):
            self._pending, self._buffer = [], Codec()
            return
        codec, lines = Codec(), []
        for number, record in enumerate(self._unflushed()):
            if number >= skip:
                lines.append(codec.encode(record))
        self._pending, self._buffer = lines, codec

    def _buffered(self) -> int:
        return sum(map(len, self._pending))

    def _append(self, directory: int) -> None:
        """Append the rounds that fit current; if none fits, current becomes previous."""
        fd = os.open(CURRENT, _APPEND, 0o600, dir_fd=directory)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(f"{CURRENT} is not a regular file")
            size, start, ours = info.st_size, b"", self._file_size == info.st_size
            chain = self._file if self._file is not None and ours else None
            self._file = None  # until this append is on flash: a failed one ends the chain
            if size and os.pread(fd, 1, size - 1) != b"\n":
                start, chain = b"\n", None  # after a torn line: a fresh line, a keyframe
            if chain is None:  # not ours to its end: start with a keyframe
                chain = Codec(self.keyframe_every)
            room, lines, full = self._half - size - 1, list[bytes](), False
            for record in self._unflushed():
                line = chain.encode(record)
                if len(line) > room:  # the chain holds a round not written: it ends here
                    full = True
                    break
                room -= len(line)
                lines.append(line)
            if lines:
                data = start + b"".join(lines)
                _write_all(fd, data)
                os.fsync(fd)
                if not size:  # a new file: its name must survive a power cut too
                    os.fsync(directory)
                self.writes += 1
                self._file, self._file_size = (None if full else chain), size + len(data)
                self._rebase(len(lines))
                return
        finally:
            os.close(fd)
        if info.st_size > self._half:  # from a larger max_bytes: keeping it breaks the cap
            os.unlink(CURRENT, dir_fd=directory)
        else:
            os.rename(CURRENT, PREVIOUS, src_dir_fd=directory, dst_dir_fd=directory)
        os.fsync(directory)


def encode(record: Mapping[str, Any]) -> bytes:
    """A round as a keyframe line, readable alone (a file's chain encodes most as deltas)."""
    return Codec().encode(record, keyframe=True)


def decode(line: bytes) -> Record | None:
    """The round of a keyframe line (with its newline), or None if it is not one intact
    (a delta is read only after the lines before it: Codec.decode)."""
    return Codec().decode(line)


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
    codec = Codec()  # a file is read alone: it starts with a keyframe
    for line in data.split(b"\n")[:-1]:  # the last piece has no newline: torn, or empty
        record = codec.decode(line + b"\n")
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


def _prefix(lines: Sequence[bytes], excess: int) -> int:
    """How many of the first lines it takes to free `excess` bytes."""
    freed = 0
    for count, line in enumerate(lines, 1):
        freed += len(line)
        if freed >= excess:
            return count
    return len(lines)


def _keyframe_size(record: Record, limit: int) -> int:
    """The size of `record` as a keyframe, or a bound of it under `limit`, so as not to
    encode every round twice (JSON writes a character in at most 12 bytes, as \\ud83d
    \\ude00; a number in at most 24)."""
    bound = 64 + sum(48 + 12 * sum(len(s) for s in row if type(s) is str) for row in record["p"])
    bound += sum(20 + 12 * sum(map(len, finding)) for finding in record["v"])
    return bound if bound < limit else len(Codec().encode(record))


def _quantise(duration: float) -> float | None:
    """Three significant digits, 0.1 ms at best; None for what is not a duration."""
    if not _number(duration):
        return None
    return float(f"{round(duration, 4):.3g}")


def _number(value: float) -> bool:
    return math.isfinite(value) and value >= 0


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
