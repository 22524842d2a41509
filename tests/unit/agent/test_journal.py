"""The journal: batched appends, a size cap, and reads that survive kill -9 and power cuts."""

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
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from agent import journal as journal_module
from agent.contract import M_PROBE_DURATION, M_PROBE_SUCCESS, M_VERDICT
from agent.journal import CURRENT, PREVIOUS, Journal, decode, encode, export_openmetrics
from agent.probes.base import Result

ROOT = Path(__file__).resolve().parents[3]
T0 = 1_767_225_600.0  # 2026-01-01


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingOs:
    """The os module as agent.journal sees it, counting the calls that touch flash."""

    COUNTED = ("open", "write", "fsync", "rename", "unlink")

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if name not in self.COUNTED:
            return real

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return real(*args, **kwargs)

        return counted


def probe(target: str = "example.org", *, ok: bool = True, **fields: Any) -> Result:
    defaults = {"tier": "international", "kind": "icmp", "uplink": "wan", "duration": 0.0123}
    failure = "" if ok else "generic_timeout_error"
    return Result(target=target, ok=ok, failure=failure, **{**defaults, **fields})


SHUTDOWN = {"class": "international_shutdown", "uplink": "wan"}


def rounds(journal: Journal, count: int, clock: Clock, *, start: int = 0) -> None:
    for n in range(start, start + count):
        clock.now = T0 + 60 * n
        journal.record_round([probe(f"t{n}"), probe("other", ok=False)], [])


def targets(records: list[dict[str, Any]]) -> list[str]:
    return [record["p"][0][1] for record in records]


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
    journal = Journal(tmp_path, clock=Clock())
    journal.record_round([probe('quote " back \\ new\nline')], [SHUTDOWN])
    journal.flush()
    path = tmp_path / CURRENT
    assert path.stat().st_mode & 0o777 == 0o600
    for line in path.read_bytes().splitlines(keepends=True):
        assert line.endswith(b"\n")
        assert json.loads(line)["z"]
    assert next(journal.read())["p"][0][1] == 'quote " back \\ new\nline'


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
    for n in range(400):
        rounds(journal, 1, clock, start=n)
        files = [tmp_path / CURRENT, tmp_path / PREVIOUS]
        assert sum(path.stat().st_size for path in files if path.exists()) <= 4096
    assert (tmp_path / PREVIOUS).exists()
    kept = targets(list(journal.read()))
    assert kept[-1] == "t399"
    assert kept == [f"t{n}" for n in range(400 - len(kept), 400)]  # the newest, no gap
    assert len(kept) >= 2048 // len(encode(next(journal.read()))) - 1


def test_a_batch_is_split_across_a_rotation(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path, max_bytes=4096, flush_every=1e9, clock=clock)
    rounds(journal, 1, clock)
    count = 1500 // len(encode(next(journal.read())))  # 1.5 kB: less than a half (2 kB)
    rounds(journal, count - 1, clock, start=1)
    journal.flush()
    rounds(journal, count, clock, start=count)
    assert journal.writes == 1
    journal.flush()  # part fits current; current becomes previous; the rest starts anew
    assert journal.writes == 3
    assert targets(list(journal.read())) == [f"t{n}" for n in range(2 * count)]
    assert 1500 < (tmp_path / PREVIOUS).stat().st_size <= 2048


def test_a_round_too_large_for_a_file_is_dropped(tmp_path: Path) -> None:
    journal = Journal(tmp_path, max_bytes=4096, clock=Clock())
    journal.record_round([probe(f"t{n}") for n in range(100)], [])
    journal.flush()
    assert (journal.dropped, list(journal.read())) == (1, [])


def test_read_selects_a_time_window(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path, clock=clock)
    rounds(journal, 10, clock)
    window = list(journal.read(since=T0 + 120, until=T0 + 300))
    assert targets(window) == ["t2", "t3", "t4", "t5"]


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


GARBAGE = [
    b"\x00" * 512,  # a flash page that was never written
    b"\xff" * 300,  # an erased NOR block
    bytes(random.Random(7).randrange(256) for _ in range(2000)),  # noqa: S311 - noise
    b'{"t": 1, "p": [], "v": []}\n',  # JSON, but no check
    encode({"t": "yesterday", "p": [], "v": []}),  # checked, but not a round
    encode({"t": 1.0, "p": [["a", "b", "c", "d", 2, 0.1]], "v": []}),
    encode({"t": 1.0, "p": [], "v": [["only", "two"]]}),
    b"\xc3\x28 not utf-8 " + b"[" * 5000 + b"\n",
    b"\n\n\r\n",
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_is_skipped_and_appending_goes_on(tmp_path: Path, garbage: bytes) -> None:
    data = lines_of(tmp_path, 2)
    (tmp_path / CURRENT).write_bytes(data + garbage)
    clock = Clock(T0 + 3600)
    journal = Journal(tmp_path, clock=clock)
    assert targets(list(journal.read())) == ["t0", "t1"]
    rounds(journal, 1, clock, start=60)
    journal.flush()
    assert targets(list(journal.read())) == ["t0", "t1", "t60"]


def test_every_single_bit_flip_is_caught() -> None:
    line = encode({"t": T0, "p": [["i", "example.org", "icmp", "wan", 1, 0.01]], "v": []})
    assert decode(line) is not None
    for index in range(len(line)):
        for bit in range(8):
            flipped = bytearray(line)
            flipped[index] ^= 1 << bit
            assert decode(bytes(flipped)) is None, (index, bit)


def test_a_symlink_or_fifo_is_never_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    directory = tmp_path / "journal"
    directory.mkdir()
    (directory / CURRENT).symlink_to(victim)
    (directory / PREVIOUS).symlink_to(victim)
    journal = Journal(directory, clock=Clock())
    journal.record_round([probe()], [SHUTDOWN])
    assert journal.error is not None
    assert victim.read_bytes() == b"precious\n"
    assert len(list(journal.read())) == 1  # the buffer, kept for the next flush
    (directory / CURRENT).unlink()
    os.mkfifo(directory / CURRENT)
    assert not journal.flush()  # refused at once: a FIFO with no reader never blocks it
    (directory / CURRENT).unlink()
    assert journal.flush()
    assert journal.error is None
    assert len(list(Journal(directory).read())) == 1


def test_while_flash_fails_the_buffer_stays_bounded(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-directory"
    blocked.write_bytes(b"")
    clock = Clock()
    journal = Journal(blocked, max_bytes=4096, flush_every=0, clock=clock)
    rounds(journal, 100, clock)
    assert journal.error is not None
    assert journal.dropped > 0
    kept = list(journal.read())
    assert sum(len(encode(record)) for record in kept) <= 2048
    assert targets(kept)[-1] == "t99"


CHILD = """
import pathlib, sys
from agent.journal import Journal
from agent.probes.base import Result

journal = Journal(pathlib.Path(sys.argv[1]), max_bytes=1 << 26, flush_every=1e9)
n = 0
while True:
    probes = [Result("international", f"t{n}.{i}", "icmp", "wan", n % 3 > 0, 0.01 * i)
              for i in range(6)]
    journal.record_round(probes, [{"class": "ok"}] if n % 7 else [], timestamp=1e9 + n)
    journal.flush()
    print(n, flush=True)
    n += 1
"""


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
    read = [record["t"] - 1e9 for record in Journal(tmp_path, max_bytes=1 << 26).read()]
    assert read[: len(flushed)] == flushed
    assert read == list(range(len(read)))  # at most one more, whose print was cut
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
