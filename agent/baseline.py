"""Per-target baselines learned while healthy: the control a cut-off network still has.

From inside a shutdown there is no outside control to compare with (FIELD-NOTES,
"Shutdown and censorship measurement"); history is one: was this target this
slow, this page this size, when all was well? The verdict decides when a round
was healthy and calls `learn` only then, and judges results against `get`. This
module is the store and its learning rules, nothing more:

- icmp: an EWMA of the rtt (Result.value, seconds) and the samples it has seen;
- throughput: an EWMA of the rate (Result.value, bytes per second), likewise;
- http: the last status, body size and title (Result.detail "status", "size",
  "title") and how many consecutive rounds agreed: same status and title, size
  within SIZE_TOLERANCE (a page's size varies a little; a block page's, a lot).
  Status and title are kept as the probe wrote them, for the verdict compares
  them with the detail as is; one that is absurd (not 3 digits, a title over
  MAX_TITLE) is kept as None, which the verdict does not compare.

A failed result, another kind, an impossible value (NaN, negative) teach nothing.
`samples` says how far a baseline is to be trusted; the verdict sets the bar.

Flash wears out: `maybe_save` writes at most once per `save_every` seconds, and
only after learning. A write is atomic (0600 temp file in the same directory,
O_EXCL | O_NOFOLLOW, fsync, rename, fsync of the directory): a power cut leaves
the old file or the new one. Loading never raises: a missing, empty, corrupt,
wrong-version, oversized (> MAX_FILE_BYTES) file or a non-regular one starts
empty, and bad entries are skipped, at most MAX_ENTRIES kept.
"""

from __future__ import annotations

import json
import math
import os
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.probes.base import Result

VERSION = 1
ALPHA = 0.125  # the EWMA's weight of a new sample: TCP's smoothed RTT (RFC 6298)
SIZE_TOLERANCE = 0.1  # http: sizes within 10% of each other agree
MAX_ENTRIES = 1000  # targets x kinds x uplinks of one node: tens, not thousands
MAX_FILE_BYTES = 1 << 20
MAX_SAMPLES = 1_000_000
MAX_NAME = 255  # a target, kind or uplink longer than this is no inventory name
MAX_TITLE = 200
_KINDS = ("icmp", "throughput", "http")
Key = tuple[str, str, str]  # target, kind, uplink


@dataclass(frozen=True)
class Baseline:
    rtt: float | None = None  # icmp: seconds
    rate: float | None = None  # throughput: bytes per second
    samples: int = 0  # icmp, throughput: samples learnt; http: consecutive agreeing rounds
    status: str | None = None  # http: as the probe's detail has it ("200")
    size: int | None = None  # http: body bytes
    title: str | None = None  # http
    updated: float = 0.0  # unix time it last learnt: the stalest goes first when full


FIRST_SAVE = 120.0  # seconds after the start


class Baselines:
    def __init__(
        self, path: Path, save_every: float = 3600.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.save_every = save_every
        self._clock = clock
        self._entries = load(path)
        self._dirty = False
        # The first save comes FIRST_SAVE after the start, not save_every: what a new
        # agent learnt in its first healthy rounds must survive a power cut soon after.
        self._saved_at = clock() - max(save_every - FIRST_SAVE, 0.0)
        self.writes = 0  # files written: the flash's wear
        self.error: str | None = None  # why the last save failed; None once one succeeds

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, target: str, kind: str, uplink: str) -> Baseline | None:
        return self._entries.get((target, kind, uplink))

    def learn(self, result: Result) -> None:
        """Learn from one result of a round the caller judged healthy."""
        key = (result.target, result.kind, result.uplink)
        if not result.ok or result.kind not in _KINDS or not all(map(_name, key)):
            return
        old, now = self._entries.get(key), self._clock()
        if result.kind == "http":
            status = _status(result.detail.get("status"))
            size = _integer(result.detail.get("size"))
            title = _title(result.detail.get("title"))
            agreed = old is not None and _agree(old, status, size, title)
            samples = old.samples + 1 if old is not None and agreed else 1
            new = Baseline(samples=samples, status=status, size=size, title=title, updated=now)
        else:
            value = result.value
            if value is None or not math.isfinite(value) or value < 0:
                return
            field = "rtt" if result.kind == "icmp" else "rate"
            before: float | None = getattr(old, field) if old is not None else None
            average = value if before is None else before + ALPHA * (value - before)
            samples = old.samples + 1 if old is not None and before is not None else 1
            new = (
                Baseline(rtt=average, samples=samples, updated=now)
                if field == "rtt"
                else Baseline(rate=average, samples=samples, updated=now)
            )
        self._store(key, new)

    def maybe_save(self) -> bool:
        """Save if something was learnt and save_every has passed since the last save
        (or since start). True if it wrote."""
        now = self._clock()
        if now < self._saved_at:  # the clock stepped back (NTP after boot): count from now
            self._saved_at = now
        if self._dirty and now - self._saved_at >= self.save_every:
            return self.save()
        return False

    def save(self) -> bool:
        """Write every baseline now, atomically. False (and `error`) if the flash refused."""
        entries = [
            {"target": t, "kind": k, "uplink": u, **asdict(b)}
            for (t, k, u), b in self._entries.items()
        ]
        data = json.dumps({"version": VERSION, "baselines": entries}, separators=(",", ":"))
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                _replace(directory, self.path.name, data.encode())
            finally:
                os.close(directory)
        except OSError as exc:
            self.error = f"{self.path}: {exc.strerror or exc}"
            return False
        self._dirty, self._saved_at, self.error = False, self._clock(), None
        self.writes += 1
        return True

    def _store(self, key: Key, baseline: Baseline) -> None:
        if key not in self._entries and len(self._entries) >= MAX_ENTRIES:
            stalest = min(self._entries, key=lambda k: self._entries[k].updated)
            del self._entries[stalest]
        self._entries[key] = replace(baseline, samples=min(baseline.samples, MAX_SAMPLES))
        self._dirty = True


def _name(name: Any) -> bool:
    return type(name) is str and 0 < len(name) <= MAX_NAME


def _status(text: Any) -> str | None:
    return (
        text if type(text) is str and len(text) == 3 and text.isascii() and text.isdigit() else None
    )


def _title(text: Any) -> str | None:
    """A title as the probe gave it (the verdict compares it as is), or None if absurd."""
    return text if type(text) is str and len(text) <= MAX_TITLE else None


def _integer(text: str | None) -> int | None:
    if text is None or not text.isdigit() or len(text) > 15 or not text.isascii():
        return None
    return int(text)


def _agree(old: Baseline, status: str | None, size: int | None, title: str | None) -> bool:
    if old.status != status or old.title != title:
        return False
    if old.size is None or size is None:
        return old.size == size
    return abs(old.size - size) <= SIZE_TOLERANCE * max(old.size, size)


def _replace(directory: int, name: str, data: bytes) -> None:
    """Write `name` in `directory` atomically, following no symlink."""
    temp = f".{name}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(temp, flags, 0o600, dir_fd=directory)
    except FileExistsError:  # a crash's leftover, or planted: unlink removes a link, not its target
        os.unlink(temp, dir_fd=directory)
        fd = os.open(temp, flags, 0o600, dir_fd=directory)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, name, src_dir_fd=directory, dst_dir_fd=directory)  # replaces a link itself
    os.fsync(directory)


def load(path: Path) -> dict[Key, Baseline]:
    """The baselines saved at `path`; empty if there are none readable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}
        data = os.read(fd, MAX_FILE_BYTES + 1)  # one read: a regular file gives it whole
        document = json.loads(data) if len(data) <= MAX_FILE_BYTES else None
    except (OSError, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return {}
    finally:
        os.close(fd)
    if not isinstance(document, dict) or document.get("version") != VERSION:
        return {}
    found = document.get("baselines")
    entries: dict[Key, Baseline] = {}
    for item in found if isinstance(found, list) else []:
        parsed = _entry(item)
        if parsed is not None and len(entries) < MAX_ENTRIES:
            entries[parsed[0]] = parsed[1]
    return entries


def _entry(item: Any) -> tuple[Key, Baseline] | None:
    """One saved baseline, if every field is what save() writes."""
    fields = ("target", "kind", "uplink", "rtt", "rate", "samples", "status", "size", "title")
    if not isinstance(item, dict) or set(item) != {*fields, "updated"}:
        return None
    names = item["target"], item["kind"], item["uplink"]
    if not all(map(_name, names)) or names[1] not in _KINDS:
        return None
    reals = item["rtt"], item["rate"], item["updated"]
    if not all(
        r is None or (type(r) in (int, float) and math.isfinite(r) and r >= 0) for r in reals
    ):
        return None
    if item["status"] is not None and _status(item["status"]) is None:
        return None
    if item["title"] is not None and _title(item["title"]) is None:
        return None
    counts = item["samples"], item["size"]
    if not all(c is None or (type(c) is int and 0 <= c <= 10**15) for c in counts):
        return None
    if item["samples"] is None or item["updated"] is None:
        return None
    return names, Baseline(
        rtt=None if item["rtt"] is None else float(item["rtt"]),
        rate=None if item["rate"] is None else float(item["rate"]),
        samples=min(item["samples"], MAX_SAMPLES),
        status=item["status"],
        size=item["size"],
        title=item["title"],
        updated=float(item["updated"]),
    )
