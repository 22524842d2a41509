"""The journal: batched appends, a size cap, deltas between keyframes, and reads that
survive kill -9, power cuts, garbage and bit flips without ever rebuilding a round wrongly."""

from __future__ import annotations

import io
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from agent import journal as journal_module
from agent.contract import M_PROBE_DURATION, M_PROBE_SUCCESS, M_VERDICT
from agent.journal import CURRENT, PREVIOUS, Journal, decode, encode, export_openmetrics
from agent.journal_codec import Codec, seal
from agent.probes.base import Result

ROOT = Path(__file__).resolve().parents[3]
T0 = 1_767_225_600.0  # 2026-01-01
HALF = 512 * 1024 // 2


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingOs:
    """The os module as agent.journal sees it, counting the calls that touch flash."""

    COUNTED = ("open", "write", "fsync", "rename", "unlink")

    def __init__(self, fail: str = "") -> None:
        self.calls: Counter[str] = Counter()
        self.fail = fail  # the call that raises the next time (once)

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if name not in self.COUNTED:
            return real

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if name == self.fail:
                self.fail = ""
                raise OSError(5, "Input/output error")
            return real(*args, **kwargs)

        return counted


def probe(target: str = "example.org", *, ok: bool = True, **fields: Any) -> Result:
    defaults = {"tier": "international", "kind": "icmp", "uplink": "wan", "duration": 0.0123}
    failure = "" if ok else "generic_timeout_error"
    return Result(target=target, ok=ok, failure=failure, **{**defaults, **fields})


SHUTDOWN = {"class": "international_shutdown", "uplink": "wan"}


def rounds(journal: Journal, count: int, clock: Clock, *, start: int = 0) -> None:
    """Rounds whose first probe is new each time: every delta adds a row and drops one."""
    for n in range(start, start + count):
        clock.now = T0 + 60 * n
        journal.record_round([probe(f"t{n}"), probe("other", ok=False)], [])


def targets(records: list[dict[str, Any]]) -> list[str]:
    return [record["p"][0][1] for record in records]


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def is_keyframe(line: bytes) -> bool:
    return line.startswith(b'{"t":')


# The example network's gateway (tests/fixtures/render/gw-market): 29 probes a round,
# the two downloads every 5th round. In a shutdown every foreign target times out.
GATEWAY = [
    ("gateway", "wan", "icmp"),
    *[("isp", "fibre-resolver", kind) for kind in ("icmp", "dns")],
    ("domestic", "exchange-ntp", "icmp"),
    *[("domestic", "gov-portal", kind) for kind in ("icmp", "tcp", "tls")],
    *[("domestic", "national-news", kind) for kind in ("tcp", "http")],
    *[("international", "intl-resolver", kind) for kind in ("icmp", "dns")],
    *[("international", "intl-web", k) for k in ("icmp", "tcp", "tls", "http", "throughput")],
    *[("platforms", p, k) for p in ("chat", "social") for k in ("dns", "tcp", "tls", "http")],
    *[("platforms", "video", k) for k in ("dns", "tcp", "tls", "http", "throughput")],
]
TYPICAL = {"icmp": 0.02, "dns": 0.03, "tcp": 0.04, "tls": 0.12, "http": 0.25, "throughput": 1.2}


def gateway_round(n: int, chance: random.Random, *, cut: bool) -> list[Result]:
    """Durations jitter ±20 % around typical ones; a timeout takes 1.5 s (+ up to 3 ms)."""
    out = []
    for tier, target, kind in GATEWAY:
        if kind == "throughput" and n % 5:
            continue
        foreign = tier == "international" or (tier == "platforms" and kind != "dns")
        if cut and foreign:
            timeout = 1.5 + chance.uniform(0, 0.003)
            out.append(Result(tier, target, kind, "wan", False, timeout, "generic_timeout_error"))
        else:
            duration = TYPICAL[kind] * chance.uniform(0.8, 1.2)
            out.append(Result(tier, target, kind, "wan", True, duration))
    return out


def test_a_round_reads_back_as_recorded(tmp_path: Path) -> None:
    journal = Journal(tmp_path, clock=Clock())
    journal.record_round([probe(), probe("x.org", ok=False, kind="tcp")], [SHUTDOWN])
    assert journal.flush()
    (record,) = Journal(tmp_path).read()  # a new instance: from flash, not RAM
    assert record == {
        "t": T0,
        "p": [
            ["international", "example.org", "icmp", "wan", 1, 0.0123],
            ["international", "x.org", "tcp", "wan", 0, 0.0123, "generic_timeout_error"],
        ],
        "v": [["international_shutdown", "wan", "", "", ""]],
    }


def test_files_are_0600_and_every_line_is_json(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path, clock=clock)
    journal.record_round([probe('quote " back \\ new\nline')], [SHUTDOWN])
    clock.now += 60
    journal.record_round([probe('quote " back \\ new\nline', ok=False)], [SHUTDOWN])
    journal.flush()
    path = tmp_path / CURRENT
    assert path.stat().st_mode & 0o777 == 0o600
    for line in lines(path):
        assert line.endswith(b"\n")
        assert line.isascii()
        assert json.loads(line)["z"]
    assert [is_keyframe(line) for line in lines(path)] == [True, False]
    assert [r["p"][0][1] for r in journal.read()] == ['quote " back \\ new\nline'] * 2


def test_a_delta_holds_only_what_changed(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path, flush_every=1e9, clock=clock)
    states = [(True, []), (True, []), (False, []), (False, [SHUTDOWN]), (False, [SHUTDOWN])]
    for n, (ok, findings) in enumerate(states):
        clock.now = T0 + 60 * n + 0.25 * n
        journal.record_round([probe("a.org"), probe("b.org", ok=ok)], findings, changed=False)
    journal.flush()
    bodies = [json.loads(line) for line in lines(tmp_path / CURRENT)]
    for body in bodies:
        del body["z"]
    assert bodies[1:] == [
        {"s": 60250},  # nothing changed but the time
        {"s": 60250, "d": [[1, 0, 0.0123, "generic_timeout_error"]]},  # b.org failed
        {"s": 60250, "v": [["international_shutdown", "wan", "", "", ""]]},
        {"s": 60250},
    ]
    assert [r["t"] for r in journal.read()] == [T0 + 60.25 * n for n in range(5)]


def test_rows_that_come_go_and_come_back(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path, flush_every=1e9, clock=clock)
    plan = [["a", "c"], ["a", "b", "c"], ["a", "c"], ["a", "b", "c"], ["c", "a"], [], ["a"]]
    for n, names in enumerate(plan):
        clock.now = T0 + 60 * n
        journal.record_round([probe(name) for name in names], [], changed=False)
    journal.flush()
    assert [[row[1] for row in r["p"]] for r in Journal(tmp_path).read()] == plan
    kinds = [is_keyframe(line) for line in lines(tmp_path / CURRENT)]
    assert kinds == [True, False, False, False, True, False, False]  # another order: keyframe
    back = json.loads(lines(tmp_path / CURRENT)[3])
    assert back["d"] == [[2]]  # b is back, as it was when it went


def test_rounds_are_written_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = CountingOs()
    monkeypatch.setattr(journal_module, "os", calls)
    clock = Clock()
    journal = Journal(tmp_path, flush_every=300, clock=clock)
    rounds(journal, 5, clock)  # 0..240 s: not due yet
    assert calls.calls == Counter()
    assert not (tmp_path / CURRENT).exists()
    assert len(list(journal.read())) == 5  # the buffer reads too
    calls.calls.clear()
    rounds(journal, 1, clock, start=5)  # 300 s: due
    # one write; fsync of the file, and of the directory that got a new name
    assert (calls.calls["write"], calls.calls["fsync"], journal.writes) == (1, 2, 1)
    size = (tmp_path / CURRENT).stat().st_size
    calls.calls.clear()
    rounds(journal, 4, clock, start=6)  # 360..540 s
    assert (tmp_path / CURRENT).stat().st_size == size
    assert (calls.calls, journal.writes) == (Counter(), 1)
    rounds(journal, 1, clock, start=10)  # 600 s: due again
    assert calls.calls == Counter({"open": 2, "write": 1, "fsync": 1})  # directory + file
    assert journal.writes == 2
    assert (tmp_path / CURRENT).stat().st_size > size
    assert [is_keyframe(line) for line in lines(tmp_path / CURRENT)] == [True] + [False] * 10


def test_a_verdict_change_is_written_at_once(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path, flush_every=300, clock=clock)
    journal.record_round([probe()], [])
    assert journal.writes == 0
    journal.record_round([probe(ok=False)], [SHUTDOWN])  # entered
    assert journal.writes == 1
    journal.record_round([probe(ok=False)], [SHUTDOWN])  # the same: buffered
    assert journal.writes == 1
    journal.record_round([probe()], [])  # left
    assert journal.writes == 2
    assert len(list(Journal(tmp_path).read())) == 4


def test_the_callers_word_on_a_change_wins(tmp_path: Path) -> None:
    journal = Journal(tmp_path, flush_every=300, clock=Clock())
    journal.record_round([probe()], [SHUTDOWN], changed=False)
    assert journal.writes == 0
    journal.record_round([probe()], [SHUTDOWN], changed=True)
    assert journal.writes == 1


def test_both_files_together_never_exceed_max_bytes(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path, max_bytes=4096, flush_every=0, clock=clock)
    files = [tmp_path / CURRENT, tmp_path / PREVIOUS]
    for n in range(400):
        rounds(journal, 1, clock, start=n)
        assert sum(path.stat().st_size for path in files if path.exists()) <= 4096
    assert (tmp_path / PREVIOUS).exists()
    kept = targets(list(journal.read()))
    assert kept[-1] == "t399"
    assert kept == [f"t{n}" for n in range(400 - len(kept), 400)]  # the newest, no gap
    longest = max(len(line) for path in files for line in lines(path))
    assert len(kept) >= (2047 - longest) // longest  # previous at least nearly full
    assert all(is_keyframe(lines(path)[0]) for path in files)
    previous = Journal(tmp_path / "alone", max_bytes=4096)
    (tmp_path / "alone").mkdir()
    shutil.copy(tmp_path / CURRENT, tmp_path / "alone" / CURRENT)  # current needs no previous
    assert targets(list(previous.read())) == kept[-len(lines(tmp_path / CURRENT)) :]


def test_a_batch_is_split_across_a_rotation(tmp_path: Path) -> None:
    clock = Clock()
    scratch = Journal(tmp_path / "scratch", max_bytes=1 << 20, flush_every=1e9, clock=clock)
    count = 0
    while not (tmp_path / "scratch" / CURRENT).exists() or (
        (tmp_path / "scratch" / CURRENT).stat().st_size < 1500  # less than a half (2 kB)
    ):
        rounds(scratch, 1, clock, start=count)
        scratch.flush()
        count += 1
    journal = Journal(tmp_path, max_bytes=4096, flush_every=1e9, clock=clock)
    rounds(journal, count, clock)
    journal.flush()
    rounds(journal, count, clock, start=count)
    assert journal.writes == 1
    journal.flush()  # part fits current; current becomes previous; the rest starts anew
    assert journal.writes == 3
    assert targets(list(journal.read())) == [f"t{n}" for n in range(2 * count)]
    assert 1500 < (tmp_path / PREVIOUS).stat().st_size <= 2048
    assert is_keyframe(lines(tmp_path / CURRENT)[0])


def test_a_round_too_large_for_a_file_is_dropped(tmp_path: Path) -> None:
    journal = Journal(tmp_path, max_bytes=4096, clock=Clock())
    journal.record_round([probe(f"t{n}") for n in range(200)], [])
    journal.flush()
    assert (journal.dropped, list(journal.read())) == (1, [])
    journal.record_round([probe()], [], timestamp=math.nan)  # no time, no round
    assert (journal.dropped, list(journal.read())) == (2, [])


def test_read_selects_a_time_window(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path, clock=clock)
    rounds(journal, 10, clock)
    window = list(journal.read(since=T0 + 120, until=T0 + 300))
    assert targets(window) == ["t2", "t3", "t4", "t5"]


def test_durations_move_only_beyond_the_tolerance(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path, flush_every=1e9, clock=clock)
    measured: list[tuple[bool, float]] = [
        (True, 0.1),
        (True, 0.124),  # within 25 %: 0.1 stands
        (True, 0.076),
        (True, 0.13),  # beyond: recorded
        (False, 0.13),  # the state changed: recorded with it
        (False, 1.5),
        (False, 1.51),
        (True, 0.001),
        (True, 0.0049),  # within 5 ms
        (True, math.inf),  # not a duration
        (True, 0.0049),
        (True, 123.456789),  # three significant digits
    ]
    for n, (ok, duration) in enumerate(measured):
        clock.now = T0 + 60 * n
        journal.record_round([probe(ok=ok, duration=duration)], [], changed=False)
    journal.flush()
    durations = [record["p"][0][5] for record in Journal(tmp_path).read()]
    expected = [0.1, 0.1, 0.1, 0.13, 0.13, 1.5, 1.5, 0.001, 0.001, None, 0.0049, 123.0]
    assert durations == expected
    assert [record["p"][0][5] for record in journal.read()] == expected


def lines_of(tmp_path: Path, count: int) -> bytes:
    clock = Clock()
    journal = Journal(tmp_path, clock=clock)
    rounds(journal, count, clock)
    journal.flush()
    return (tmp_path / CURRENT).read_bytes()


def test_a_torn_last_line_is_skipped_at_every_offset(tmp_path: Path) -> None:
    data = lines_of(tmp_path, 5)
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    for offset in range(last, len(data)):
        (tmp_path / CURRENT).write_bytes(data[:offset])
        assert targets(list(Journal(tmp_path).read())) == ["t0", "t1", "t2", "t3"], offset
    (tmp_path / CURRENT).write_bytes(data)
    assert len(list(Journal(tmp_path).read())) == 5


def test_after_a_torn_line_the_next_batch_starts_a_new_line(tmp_path: Path) -> None:
    data = lines_of(tmp_path, 3)
    (tmp_path / CURRENT).write_bytes(data[:-7])
    clock = Clock(T0 + 3600)
    journal = Journal(tmp_path, clock=clock)
    rounds(journal, 2, clock, start=60)
    journal.flush()
    assert targets(list(journal.read())) == ["t0", "t1", "t60", "t61"]
    assert is_keyframe(lines(tmp_path / CURRENT)[3])


def last_check(path: Path) -> int:
    return int(json.loads(lines(path)[-1])["z"], 16)


GARBAGE = [
    b"\x00" * 512,  # a flash page that was never written
    b"\xff" * 300,  # an erased NOR block
    bytes(random.Random(7).randrange(256) for _ in range(2000)),  # noqa: S311 - noise
    b'{"t": 1, "p": [], "v": []}\n',  # JSON, but no check
    seal({"t": "yesterday", "p": [], "v": []})[0],  # checked, but not a round
    seal({"t": 1.0, "p": [["a", "b", "c", "d", 2, 0.1]], "v": []})[0],
    seal({"t": 1.0, "p": [], "v": [["only", "two"]]})[0],
    seal({"t": 1.0, "p": [[0, "b", "c", "d", 1, 0.1]], "v": []})[0],  # no string 0 yet
    seal({"s": 60000})[0],  # a delta, but chained to nothing
    seal({"t": 10**400, "p": [], "v": []})[0],  # no float is that large
    b"\xc3\x28 not utf-8 " + b"[" * 5000 + b"\n",
    b"\n\n\r\n",
]
# Deltas chained to the line before them (their check is right) that say nonsense:
CHAINED = [
    {"s": 60000, "d": [[99, 1, 0.1]]},  # no row 99
    {"s": 60000, "d": [[0, 0.1]]},  # row 0 is not in the round before
    {"s": 60000, "g": [1, 1]},
    {"s": 60000, "d": [[1, 1, 0.1], [1, 0.2]]},  # the same row twice
    {"s": 60000, "d": [[4, "international", "t2", 2, 3, 1, 0.1]]},  # beyond the order
    {"s": 60000, "d": [[0, 0, 4, 2, 3, 1, 0.1]]},  # a key already known
    {"s": -(10**16)},
    {"s": 60000, "g": [[1]]},
    {"s": 60000, "d": [[1, 1, 10**400]]},
    {"s": 60000.5},
    {"s": 60000, "x": 1},
]


@pytest.mark.parametrize("fresh", [True, False], ids=["restarted", "same-writer"])
@pytest.mark.parametrize("garbage", range(len(GARBAGE) + len(CHAINED)))
def test_garbage_is_skipped_and_appending_goes_on(
    tmp_path: Path, garbage: int, fresh: bool
) -> None:
    clock = Clock()
    journal = Journal(tmp_path, clock=clock)
    rounds(journal, 2, clock)
    journal.flush()
    if garbage < len(GARBAGE):
        bad = GARBAGE[garbage]
    else:
        bad = seal(CHAINED[garbage - len(GARBAGE)], last_check(tmp_path / CURRENT))[0]
    with (tmp_path / CURRENT).open("ab") as out:
        out.write(bad)
    if fresh:  # the agent restarted: it knows nothing of the file's end
        journal = Journal(tmp_path, clock=clock)
    assert targets(list(journal.read())) == ["t0", "t1"]
    rounds(journal, 2, clock, start=60)  # the writer notices: a keyframe, then deltas
    journal.flush()
    assert targets(list(journal.read())) == ["t0", "t1", "t60", "t61"]


def test_every_single_bit_flip_is_caught() -> None:
    line = encode({"t": T0, "p": [["i", "example.org", "icmp", "wan", 1, 0.01]], "v": []})
    assert decode(line) is not None
    record = {"t": T0 + 60, "p": [["i", "example.org", "icmp", "wan", 0, 1.5, "eof_error"]]}
    delta = Codec()
    delta.encode(decode(line) or {})
    second = delta.encode({**record, "v": [["anomaly", "", "", "", ""]]})
    assert not is_keyframe(second)
    for candidate, before in ((line, None), (second, line)):
        for index in range(len(candidate)):
            for bit in range(8):
                flipped = bytearray(candidate)
                flipped[index] ^= 1 << bit
                codec = Codec()
                if before is not None:
                    assert codec.decode(before) is not None
                assert codec.decode(bytes(flipped)) is None, (candidate, index, bit)
                assert codec.crc is None  # the chain is broken: only a keyframe mends it


def test_a_damaged_line_costs_the_rounds_up_to_the_next_keyframe(tmp_path: Path) -> None:
    """Flipped, lost, doubled, swapped or torn: the rounds read are always right ones,
    and all but those from the damaged line to the next keyframe are read."""
    clock, chance = Clock(), random.Random(3)  # noqa: S311 - reproducible, no secret
    journal = Journal(tmp_path / "good", flush_every=1e9, clock=clock, keyframe_every=10)
    for n in range(25):
        clock.now = T0 + 60 * n
        journal.record_round(gateway_round(n, chance, cut=8 <= n < 17), [], changed=False)
    journal.flush()
    good = lines(tmp_path / "good" / CURRENT)
    assert [n for n, line in enumerate(good) if is_keyframe(line)] == [0, 10, 20]
    truth = {record["t"]: record for record in journal.read()}
    assert len(truth) == 25
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for k in range(len(good)):
        variants = {
            "lost": good[:k] + good[k + 1 :],
            "doubled": good[: k + 1] + good[k:],
            "swapped": good[:k] + good[k + 1 : k + 2] + good[k : k + 1] + good[k + 2 :],
            "torn": [*good[:k], good[k][: len(good[k]) // 2] + b"\n", *good[k + 1 :]],
        }
        for flip in range(3):
            flipped = bytearray(good[k])
            flipped[chance.randrange(len(flipped) - 1)] ^= 1 << chance.randrange(8)
            variants[f"flip{flip}"] = [*good[:k], bytes(flipped), *good[k + 1 :]]
        for name, variant in variants.items():
            (damaged / CURRENT).write_bytes(b"".join(variant))
            read = list(Journal(damaged).read())
            assert all(truth[record["t"]] == record for record in read), (k, name)
            seen = {record["t"] for record in read}
            last = k + 1 if name == "swapped" else k
            spared = [n for n in range(25) if n < k or n >= (last // 10 + 1) * 10]
            assert {T0 + 60 * n for n in spared} <= seen, (k, name)


def test_a_failed_write_is_written_again_from_a_keyframe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = CountingOs(fail="fsync")
    monkeypatch.setattr(journal_module, "os", calls)
    clock = Clock()
    journal = Journal(tmp_path, flush_every=1e9, clock=clock)
    rounds(journal, 3, clock)
    assert not journal.flush()  # written, but maybe not on flash: kept
    assert journal.error is not None
    assert "Input/output error" in journal.error
    rounds(journal, 1, clock, start=3)
    assert journal.flush()
    assert [is_keyframe(line) for line in lines(tmp_path / CURRENT)][3] is True
    read = list(Journal(tmp_path).read())
    assert targets(read) == ["t0", "t1", "t2", "t0", "t1", "t2", "t3"]
    assert read[:3] == read[3:6]
    assert "t0" in openmetrics(read)


def test_a_file_of_the_previous_format_still_reads(tmp_path: Path) -> None:
    rows = [["international", "example.org", "icmp", "wan", 0, 1.5, "generic_timeout_error"]]
    old = [seal({"t": T0 + 60 * n, "p": rows, "v": []})[0] for n in range(3)]
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / CURRENT).write_bytes(b"".join(old))
    clock = Clock(T0 + 180)
    journal = Journal(tmp_path, clock=clock)
    journal.record_round([probe()], [])
    journal.flush()
    assert [r["t"] for r in journal.read()] == [T0 + 60 * n for n in range(4)]
    assert next(journal.read())["p"] == rows


KEYS = st.tuples(*[st.sampled_from(["a", "wan", "é", 'q"\\', "\U0001f600", ""])] * 4)
ROWS = st.lists(
    st.tuples(
        KEYS,
        st.integers(0, 1),
        st.sampled_from([None, 0.0, 0.0123, 1.5, 7]),
        st.sampled_from(["", "generic_timeout_error", "eof_error", "a"]),
    ),
    max_size=6,
)
FINDINGS = st.lists(st.tuples(*[st.sampled_from(["ok", "", "wan"])] * 5).map(list), max_size=2)
ROUNDS = st.lists(
    st.tuples(st.integers(-100_000, 100_000), ROWS, FINDINGS), min_size=1, max_size=12
)


@settings(max_examples=150, deadline=None)
@given(ROUNDS, st.integers(0, 4))
def test_any_chain_of_rounds_reads_back_exactly(
    plan: list[tuple[int, list[Any], list[list[str]]]], every: int
) -> None:
    records, t = [], T0
    for step, rows, findings in plan:
        t = max(round(t + step / 1000, 3), 0.0)
        p = [[*key, ok, d, *([f] if f else [])] for key, ok, d, f in rows]
        records.append({"t": t, "p": p, "v": findings})
    writer = Codec(keyframe_every=every)
    chain = [writer.encode(record) for record in records]
    assert is_keyframe(chain[0])
    reader = Codec()
    assert [reader.decode(line) for line in chain] == records
    if every:
        windows = range(len(chain) - every + 1)
        assert all(any(map(is_keyframe, chain[n : n + every])) for n in windows)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.sampled_from([0, 1, 2, 3, 4, 5, -1, 60000, 10**400])
    | st.floats()
    | st.sampled_from(["", "a", "wan"]),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.sampled_from("tpvsdg"), inner),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["t", "p", "v", "s", "d", "g"]), JSON, min_size=1),
    st.booleans(),
)
def test_a_checked_line_of_any_json_never_breaks_the_reader(
    body: dict[str, Any], chained: bool
) -> None:
    """Lines whose check is right but whose content is anything: read, or refused."""
    writer = Codec()
    rows = [["international", "a", "icmp", "wan", 1, 0.01], ["domestic", "b", "tcp", "wan", 0, 1.5]]
    first = writer.encode({"t": T0, "p": rows, "v": []})
    try:
        line = seal(body, writer.crc if chained and writer.crc is not None else 0)[0]
    except ValueError:  # NaN: json refuses it, so no line has it
        return
    reader = Codec()
    assert reader.decode(first) is not None
    record = reader.decode(line)
    if record is not None:
        assert record == Codec().decode(encode(record))  # a round as a round can be


@pytest.mark.parametrize("seed", range(3))
def test_a_journal_reads_as_the_rounds_it_was_given(tmp_path: Path, seed: int) -> None:
    """Small files, random flushes, rows coming and going: what is read is the newest
    rounds recorded, each as it was, with no gap."""
    chance, clock = random.Random(seed), Clock()  # noqa: S311 - reproducible, no secret
    reference = Journal(tmp_path / "ram", max_bytes=1 << 26, flush_every=1e9, clock=clock)
    journal = Journal(tmp_path / "flash", max_bytes=16384, flush_every=1e9, clock=clock)
    names = [f"target-{n}" for n in range(8)]
    for _ in range(300):
        clock.now += chance.choice([60, 60, 60.001, 59.999, 3600, -30])
        chosen = chance.sample(names, chance.randrange(len(names)))
        if chance.random() < 0.9:
            chosen.sort()  # mostly in one order; sometimes not (a keyframe says it)
        results = [
            probe(name, ok=chance.random() < 0.8, duration=chance.choice([0.01, 0.02, 0.3]))
            for name in chosen
        ]
        findings = chance.choice([[], [], [SHUTDOWN], [{"class": "anomaly", "target": "x"}]])
        for each in (reference, journal):
            each.record_round(results, findings, changed=False)
        if chance.random() < 0.2:
            assert journal.flush()
    assert not (tmp_path / "ram").exists()
    expected, read = list(reference.read()), list(journal.read())
    assert 50 < len(read) < 300  # files turned over, more than once
    assert read == expected[-len(read) :]
    assert journal.flush()  # the buffer too (a rotation may take the oldest)
    reread = list(Journal(tmp_path / "flash", max_bytes=16384).read())
    assert reread[-1] == read[-1]
    assert reread == read[-len(reread) :]


def test_while_flash_fails_the_buffer_stays_bounded(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-directory"
    blocked.write_bytes(b"")
    clock = Clock()
    journal = Journal(blocked, max_bytes=4096, flush_every=0, clock=clock)
    rounds(journal, 100, clock)
    assert journal.error is not None
    assert journal.dropped > 0
    kept = list(journal.read())
    chain = Codec()  # what the buffer holds: the kept rounds, chained from a keyframe
    assert sum(len(chain.encode(record)) for record in kept) <= 2048
    assert targets(kept) == [f"t{n}" for n in range(100 - len(kept), 100)]
    assert len(kept) + journal.dropped == 100


def test_a_steady_round_costs_little_and_512_kib_hold_days_of_a_shutdown(
    tmp_path: Path,
) -> None:
    """Three hours of the example gateway's rounds, at one a minute, flushed once: the
    figures in agent/journal.py's docstring. Right after a rotation only previous holds
    history, so half of 512 KiB must hold three days of a steady shutdown."""
    figures = {}
    for cut in (False, True):
        clock, chance = Clock(), random.Random(1)  # noqa: S311 - reproducible, no secret
        directory = tmp_path / ("shutdown" if cut else "healthy")
        journal = Journal(directory, flush_every=1e9, clock=clock)
        for n in range(180):
            clock.now = T0 + 60 * n + chance.uniform(0, 0.05)
            findings = [SHUTDOWN] if cut else [{"class": "ok"}]
            journal.record_round(gateway_round(n, chance, cut=cut), findings, changed=False)
        assert journal.writes == 0
        journal.flush()
        written = lines(directory / CURRENT)
        keyframes = [len(line) for line in written if is_keyframe(line)]
        deltas = [len(line) for line in written if not is_keyframe(line)]
        assert (len(keyframes), len(deltas)) == (3, 177)
        assert max(deltas) < 200
        per_round = sum(map(len, written)) / len(written)
        figures[cut] = (min(deltas), sum(deltas) / len(deltas), max(keyframes), per_round)
        assert len(list(journal.read())) == 180
    steady = figures[True][0]
    assert steady < 40  # the time and the check: nothing else changed
    days = HALF / figures[True][3] / (24 * 60)
    assert days >= 3, figures  # (least delta, mean delta, keyframe, a round with keyframes)


CHILD = """
import pathlib, sys
from agent.journal import Journal
from agent.probes.base import Result

journal = Journal(pathlib.Path(sys.argv[1]), max_bytes=1 << 26, flush_every=1e9, keyframe_every=7)
n = 0
while True:
    probes = [Result("international", f"t{i}", "icmp", "wan", (n + i) % 3 > 0, 0.01 * (n % 4),
                     "" if (n + i) % 3 else "connection_reset") for i in range(6)]
    probes.append(Result("domestic", f"d{n % 5}", "tcp", "wan", True, 0.5))
    journal.record_round(probes, [{"class": "ok"}] if n % 7 else [], timestamp=1e9 + n)
    journal.flush()
    print(n, flush=True)
    n += 1
"""


def child_round(n: int) -> dict[str, Any]:
    rows: list[list[Any]] = []
    for i in range(6):
        ok = int((n + i) % 3 > 0)
        failure = [] if ok else ["connection_reset"]
        rows.append(["international", f"t{i}", "icmp", "wan", ok, [0.0, 0.01, 0.02, 0.03][n % 4]])
        rows[-1] += failure
    rows.append(["domestic", f"d{n % 5}", "tcp", "wan", 1, 0.5])
    findings = [["ok", "", "", "", ""]] if n % 7 else []
    return {"t": 1e9 + n, "p": rows, "v": findings}


@pytest.mark.parametrize("seed", range(5))
def test_kill_9_keeps_every_flushed_round(tmp_path: Path, seed: int) -> None:
    chance = random.Random(seed)  # noqa: S311 - a reproducible moment to kill, no secret
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    flushed = [int(child.stdout.readline()) for _ in range(chance.randrange(20, 400))]
    os.kill(child.pid, signal.SIGKILL)  # wherever it is: mid-write, mid-fsync, between
    flushed += [int(line) for line in child.stdout]
    child.stdout.close()
    assert child.wait() == -signal.SIGKILL
    records = list(Journal(tmp_path, max_bytes=1 << 26).read())
    read = [int(record["t"] - 1e9) for record in records]
    assert read[: len(flushed)] == flushed
    assert read == list(range(len(read)))  # at most one more, whose print was cut
    assert records == [child_round(n) for n in read]  # each rebuilt as it was
    journal = Journal(tmp_path, max_bytes=1 << 26)
    journal.record_round([probe()], [], timestamp=2e9)
    journal.flush()
    assert [r["t"] for r in journal.read()][-2:] == [1e9 + read[-1], 2e9]


def openmetrics(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    samples = export_openmetrics(records, out)
    text = out.getvalue()
    assert samples == sum(1 for line in text.splitlines() if not line.startswith("#"))
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1
    # prometheus_client's parser checks the grammar: families contiguous, series
    # grouped, timestamps increasing within a series, escaping
    families = list(text_string_to_metric_families(text))
    assert len({family.name for family in families}) == len(families)
    return text


def shutdown_history(tmp_path: Path) -> list[dict[str, Any]]:
    clock = Clock()
    journal = Journal(tmp_path, clock=clock)
    for n in range(12):
        clock.now = T0 + 60 * n
        cut = 3 <= n < 8
        findings = [SHUTDOWN, {"class": "dns_tampering", "target": 'a"b\\c\nd'}] if cut else []
        results = [probe("domestic.example", tier="domestic"), probe("example.org", ok=not cut)]
        journal.record_round(results, findings)
    return list(journal.read())


def test_export_is_openmetrics_with_timestamps(tmp_path: Path) -> None:
    text = openmetrics(shutdown_history(tmp_path))
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) == {M_PROBE_SUCCESS, M_PROBE_DURATION, M_VERDICT}
    verdict = [(s.labels["class"], s.value, s.timestamp) for s in families[M_VERDICT].samples]
    shutdown = [(v, float(t)) for c, v, t in verdict if c == "international_shutdown"]
    assert shutdown == [(1.0, T0 + 60 * n) for n in range(3, 8)] + [(0.0, T0 + 480)]
    tampering = [s for s in families[M_VERDICT].samples if s.labels["class"] == "dns_tampering"]
    assert tampering[0].labels["target"] == 'a"b\\c\nd'
    assert r'target="a\"b\\c\nd"' in text
    success = [s for s in families[M_PROBE_SUCCESS].samples if s.labels["target"] == "example.org"]
    assert [s.value for s in success] == [1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1]


def test_a_clock_stepping_back_never_breaks_series_order(tmp_path: Path) -> None:
    records = shutdown_history(tmp_path)
    records.insert(5, {**records[2], "t": T0 - 86_400})  # before NTP: 1970, or a day off
    text = openmetrics(records)
    assert str(T0 - 86_400) not in text


def test_promtool_backfills_the_export(tmp_path: Path) -> None:
    """promtool (Debian package prometheus) turns the export into TSDB blocks. Where it
    is missing, the grammar checks in openmetrics() are all this test asserts."""
    text = openmetrics(shutdown_history(tmp_path / "journal"))
    promtool = shutil.which("promtool")
    if promtool is None:
        return
    export = tmp_path / "journal.om"
    export.write_text(text)
    out = tmp_path / "blocks"
    done = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(export), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    blocks = [meta.parent for meta in out.glob("*/meta.json")]
    assert blocks
    stats = [json.loads((block / "meta.json").read_text())["stats"] for block in blocks]
    assert sum(s["numSamples"] for s in stats) == len(re.findall("^[^#]", text, re.MULTILINE))


def test_max_bytes_has_a_floor(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="4 KiB"):
        Journal(tmp_path, max_bytes=1000)


def test_durations_that_are_not_numbers_are_kept_as_null(tmp_path: Path) -> None:
    journal = Journal(tmp_path, clock=Clock())
    journal.record_round([probe(duration=math.nan)], [])
    (record,) = journal.read()
    assert record["p"][0][5] is None
    assert M_PROBE_DURATION not in openmetrics([record])


def test_keyframe_every_has_a_floor(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keyframe_every"):
        Journal(tmp_path, keyframe_every=0)
