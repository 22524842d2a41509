"""Baselines: the learning rules, few writes, restarts, and files that are not what they seem."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from agent.baseline import (
    ALPHA,
    FIRST_SAVE,
    MAX_ENTRIES,
    MAX_FILE_BYTES,
    VERSION,
    Baseline,
    Baselines,
    load,
)
from agent.probes.base import Result

T0 = 1_767_225_600.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def icmp(rtt: float | None, target: str = "example.org", **fields: Any) -> Result:
    base: dict[str, Any] = {"tier": "international", "kind": "icmp", "uplink": "wan", "ok": True}
    return Result(target=target, duration=0.1, value=rtt, **{**base, **fields})


def throughput(rate: float, target: str = "cdn.example") -> Result:
    return icmp(rate, target, kind="throughput")


def http(status: str = "200", size: str = "5120", title: str = "News", **fields: Any) -> Result:
    detail = {"status": status, "size": size, "title": title}
    return icmp(None, "news.example", kind="http", detail=detail, **fields)


def test_icmp_learns_an_ewma_of_the_rtt(tmp_path: Path) -> None:
    baselines = Baselines(tmp_path / "baselines.json", clock=Clock())
    baselines.learn(icmp(0.100))
    assert baselines.get("example.org", "icmp", "wan") == Baseline(rtt=0.100, samples=1, updated=T0)
    baselines.learn(icmp(0.200))
    learnt = baselines.get("example.org", "icmp", "wan")
    assert learnt is not None
    assert learnt.rtt == pytest.approx(0.100 + ALPHA * 0.100)
    assert learnt.samples == 2
    for _ in range(200):
        baselines.learn(icmp(0.050))
    learnt = baselines.get("example.org", "icmp", "wan")
    assert learnt is not None
    assert learnt.rtt == pytest.approx(0.050)
    assert learnt.samples == 202


def test_throughput_learns_an_ewma_of_the_rate(tmp_path: Path) -> None:
    baselines = Baselines(tmp_path / "baselines.json", clock=Clock())
    for rate in (1_000_000.0, 2_000_000.0, 2_000_000.0):
        baselines.learn(throughput(rate))
    expected = 1_000_000.0
    for rate in (2_000_000.0, 2_000_000.0):
        expected += ALPHA * (rate - expected)
    learnt = baselines.get("cdn.example", "throughput", "wan")
    assert learnt is not None
    assert learnt.rate == pytest.approx(expected)
    assert (learnt.samples, learnt.rtt) == (3, None)


def test_http_counts_the_rounds_that_agreed(tmp_path: Path) -> None:
    baselines = Baselines(tmp_path / "baselines.json", clock=Clock())

    def learnt() -> tuple[int, str | None, int | None, str | None]:
        found = baselines.get("news.example", "http", "wan")
        assert found is not None
        return found.samples, found.status, found.size, found.title

    baselines.learn(http())
    baselines.learn(http(size="5400"))  # a few ads more: within 10%, agrees
    assert learnt() == (2, "200", 5400, "News")
    baselines.learn(http(size="9000"))  # not the same page
    assert learnt() == (1, "200", 9000, "News")
    baselines.learn(http(size="9000"))
    baselines.learn(http(size="9000", title="Blocked by order"))
    assert learnt() == (1, "200", 9000, "Blocked by order")
    baselines.learn(http(status="451", size="9000", title="Blocked by order"))
    assert learnt() == (1, "451", 9000, "Blocked by order")
    baselines.learn(http(status="soon", size="-1", title="x" * 1000))
    assert learnt() == (1, None, None, None)  # absurd: kept as None, which is not compared
    baselines.learn(http(status="２００", size="٥", title="x" * 200))  # digits, not ASCII
    assert learnt() == (1, None, None, "x" * 200)


@pytest.mark.parametrize(
    "result",
    [
        icmp(0.1, ok=False, failure="generic_timeout_error"),
        icmp(None),
        icmp(math.nan),
        icmp(math.inf),
        icmp(-0.1),
        icmp(0.1, kind="tcp"),
        icmp(0.1, target=""),
        icmp(0.1, target="x" * 256),
        http(ok=False, failure="http_blockpage"),
    ],
)
def test_what_teaches_nothing(tmp_path: Path, result: Result) -> None:
    baselines = Baselines(tmp_path / "baselines.json", clock=Clock())
    baselines.learn(result)
    assert len(baselines) == 0


def test_each_uplink_has_its_own(tmp_path: Path) -> None:
    baselines = Baselines(tmp_path / "baselines.json", clock=Clock())
    baselines.learn(icmp(0.01))
    baselines.learn(icmp(0.30, uplink="wan2"))
    first, second = (
        baselines.get("example.org", "icmp", "wan"),
        baselines.get("example.org", "icmp", "wan2"),
    )
    assert first is not None and second is not None
    assert (first.rtt, second.rtt) == (0.01, 0.30)
    assert baselines.get("example.org", "icmp", "mesh") is None


def test_a_restart_finds_what_was_saved(tmp_path: Path) -> None:
    path = tmp_path / "state" / "baselines.json"
    clock = Clock()
    baselines = Baselines(path, clock=clock)
    baselines.learn(icmp(0.1))
    baselines.learn(throughput(5e6))
    baselines.learn(http(title='quote " and \\ and ünïcode'))
    assert baselines.save()
    again = Baselines(path, clock=clock)
    assert len(again) == 3
    for key in [
        ("example.org", "icmp", "wan"),
        ("cdn.example", "throughput", "wan"),
        ("news.example", "http", "wan"),
    ]:
        assert again.get(*key) == baselines.get(*key)
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["baselines.json"]  # no temp left
    assert json.loads(path.read_text())["version"] == VERSION


def test_learning_within_save_every_writes_at_most_once(tmp_path: Path) -> None:
    """One early save (FIRST_SAVE after the start: a new agent's first baselines must
    survive a power cut), then at most one per save_every."""
    path = tmp_path / "baselines.json"
    clock = Clock()
    baselines = Baselines(path, save_every=3600, clock=clock)
    assert not baselines.maybe_save()  # nothing learnt: nothing to write
    for second in range(0, int(FIRST_SAVE), 10):
        clock.now = T0 + second
        baselines.learn(icmp(0.1))
        assert not baselines.maybe_save()
    assert (baselines.writes, path.exists()) == (0, False)
    clock.now = T0 + FIRST_SAVE
    baselines.learn(icmp(0.1))
    assert baselines.maybe_save()
    inode = path.stat().st_ino
    for minute in range(59):
        clock.now = T0 + FIRST_SAVE + 60 * minute
        baselines.learn(icmp(0.1))
        baselines.maybe_save()
    assert (baselines.writes, path.stat().st_ino) == (1, inode)
    clock.now = T0 + FIRST_SAVE + 3600
    assert baselines.maybe_save()
    assert baselines.writes == 2


def test_a_clock_stepping_back_does_not_stop_saving(tmp_path: Path) -> None:
    clock = Clock()
    baselines = Baselines(tmp_path / "baselines.json", save_every=3600, clock=clock)
    clock.now = 1_000.0  # before NTP
    baselines.learn(icmp(0.1))
    assert not baselines.maybe_save()
    clock.now = 1_000.0 + 3600
    assert baselines.maybe_save()


def saved(*entries: Any, version: Any = VERSION) -> bytes:
    return json.dumps({"version": version, "baselines": list(entries)}).encode()


GOOD = {
    "target": "example.org",
    "kind": "icmp",
    "uplink": "wan",
    "rtt": 0.1,
    "rate": None,
    "samples": 3,
    "status": None,
    "size": None,
    "title": None,
    "updated": T0,
}

HOSTILE = {
    "empty": b"",
    "torn": saved(GOOD)[:-9],
    "null": b"null",
    "a list": b"[]",
    "another version": saved(GOOD, version=2),
    "version as text": saved(GOOD, version="1"),
    "baselines not a list": b'{"version": 1, "baselines": {"a": 1}}',
    "not utf-8": b'{"version": 1, "baselines": ["\xff\xfe"]}',
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "huge integer": b'{"version": 1, "baselines": [' + b"9" * 5000 + b"]}",
    "too large": saved(GOOD) + b" " * MAX_FILE_BYTES,
}


@pytest.mark.parametrize("content", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_bad_file_starts_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "baselines.json"
    path.write_bytes(content)
    baselines = Baselines(path, clock=Clock())
    assert len(baselines) == 0
    baselines.learn(icmp(0.1))
    assert baselines.save()
    assert len(load(path)) == 1


BAD_ENTRIES = [
    {**GOOD, "rtt": "0.1"},
    {**GOOD, "rtt": -1},
    {**GOOD, "samples": 1.5},
    {**GOOD, "samples": True},
    {**GOOD, "samples": None},
    {**GOOD, "kind": "dns"},
    {**GOOD, "target": ""},
    {**GOOD, "target": "x" * 1000},
    {**GOOD, "title": 7},
    {**GOOD, "title": "x" * 201},
    {**GOOD, "status": 200},
    {**GOOD, "status": "OK!"},
    {**GOOD, "size": -3},
    {**GOOD, "updated": None},
    {**GOOD, "extra": 1},
    {k: v for k, v in GOOD.items() if k != "rate"},
    "a string",
]


def test_bad_entries_are_skipped_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "baselines.json"
    rtt_nan = saved({**GOOD, "target": "nan.example"}).replace(b"0.1", b"NaN")
    path.write_bytes(saved(*BAD_ENTRIES, GOOD, {**GOOD, "kind": "throughput", "rate": 1e6}))
    assert sorted(load(path)) == [
        ("example.org", "icmp", "wan"),
        ("example.org", "throughput", "wan"),
    ]
    path.write_bytes(rtt_nan)
    assert load(path) == {}


def test_at_most_max_entries_are_loaded_or_learnt(tmp_path: Path) -> None:
    path = tmp_path / "baselines.json"
    path.write_bytes(saved(*({**GOOD, "target": f"t{n}"} for n in range(3 * MAX_ENTRIES))))
    clock = Clock(T0 + 60)
    baselines = Baselines(path, clock=clock)
    assert len(baselines) == MAX_ENTRIES
    baselines.learn(icmp(0.1, target="new.example"))
    assert len(baselines) == MAX_ENTRIES
    assert baselines.get("new.example", "icmp", "wan") is not None
    assert baselines.get("t0", "icmp", "wan") is None  # the stalest made room


def test_a_non_regular_file_or_symlink_is_not_read(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_bytes(saved(GOOD))
    link = tmp_path / "link.json"
    link.symlink_to(real)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    (tmp_path / "directory.json").mkdir()
    assert len(load(real)) == 1
    for path in (link, fifo, tmp_path / "directory.json", tmp_path / "missing.json"):
        assert load(path) == {}, path


@pytest.mark.parametrize("planted", ["baselines.json", ".baselines.json.tmp"])
def test_a_planted_symlink_never_has_its_target_overwritten(tmp_path: Path, planted: str) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"root:x:0:0\n")
    directory = tmp_path / "state"
    directory.mkdir()
    (directory / planted).symlink_to(victim)
    baselines = Baselines(directory / "baselines.json", clock=Clock())
    baselines.learn(icmp(0.1))
    assert baselines.save()
    assert victim.read_bytes() == b"root:x:0:0\n"
    final = directory / "baselines.json"
    assert not final.is_symlink()
    assert len(load(final)) == 1
    assert sorted(p.name for p in directory.iterdir()) == ["baselines.json"]


def test_a_failed_save_says_why_and_keeps_the_learning(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_bytes(b"")
    clock = Clock()
    baselines = Baselines(blocked / "baselines.json", save_every=0, clock=clock)
    baselines.learn(icmp(0.1))
    assert not baselines.maybe_save()
    assert baselines.error is not None and baselines.writes == 0
    assert baselines.get("example.org", "icmp", "wan") is not None
    blocked.unlink()
    assert baselines.maybe_save()
    assert baselines.error is None
