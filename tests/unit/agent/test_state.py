"""The cached state and the scheduler: what a scrape sees, and that no job can stall it.

Values are read back through prometheus_client's own parser, not by matching
strings. Scheduler tests run real threads with short intervals; every thread is
stopped through its Event and joined in the fixture's teardown.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from agent.errors import CollectorError
from agent.schedule import Job, run_once, start
from agent.state import Reading, State

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
Values = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def gauge(name: str, value: float, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, f"Test gauge {name}.", labels=sorted(labels))
    family.add_metric([labels[k] for k in sorted(labels)], value)
    return family


def values(state: State) -> Values:
    body, _ = state.exposition()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def names(state: State) -> set[str]:
    body, _ = state.exposition()
    return {family.name for family in text_string_to_metric_families(body.decode())}


def health(collector: str) -> tuple[tuple[str, str], ...]:
    return (("collector", collector),)


class CountingCollector:
    """Registered next to the state's own: counts how often the registry is encoded."""

    def __init__(self) -> None:
        self.calls = 0

    def collect(self) -> list[Metric]:
        self.calls += 1
        return []


# --- State --------------------------------------------------------------------------------


def test_the_exposition_is_cached_until_an_update() -> None:
    state = State()
    counter = CountingCollector()
    state.registry.register(counter)
    state.update("system", Reading((gauge("meshkeeper_load1", 0.5),), True, 0.01, 1000.0))

    first, content_type = state.exposition()
    second, _ = state.exposition()
    assert second is first  # served from memory, not serialised again
    assert counter.calls == 1
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"

    state.update("system", Reading((gauge("meshkeeper_load1", 2.0),), True, 0.01, 1001.0))
    third, _ = state.exposition()
    assert third is not first
    assert counter.calls == 2
    assert values(state)[("meshkeeper_load1", ())] == 2.0


def test_each_format_has_its_own_cache_entry() -> None:
    state = State()
    counter = CountingCollector()
    state.registry.register(counter)
    state.update("system", Reading((gauge("meshkeeper_load1", 0.5),), True, 0.01, 1000.0))

    text, _ = state.exposition()
    openmetrics, content_type = state.exposition(OPENMETRICS)
    assert content_type.startswith("application/openmetrics-text")
    assert openmetrics.endswith(b"# EOF\n")
    assert state.exposition()[0] is text
    assert state.exposition(OPENMETRICS)[0] is openmetrics
    assert counter.calls == 2
    state.update("system", Reading((), False, 0.01, 1001.0, "gone"))
    assert state.exposition(OPENMETRICS)[0] is not openmetrics


def test_an_update_during_serialisation_is_not_lost() -> None:
    """A scrape that started before an update must not cache the older numbers over it."""
    state = State()
    state.update("system", Reading((gauge("meshkeeper_load1", 1.0),), True, 0.01, 1000.0))
    inside = threading.Event()
    resume = threading.Event()

    class Pausing:
        """Holds the first serialisation open until the test has updated the state."""

        def __init__(self) -> None:
            self.paused = False

        def collect(self) -> list[Metric]:
            if not self.paused:
                self.paused = True
                inside.set()
                resume.wait(5)
            return []

    state.registry.register(Pausing())
    scrape = threading.Thread(target=state.exposition)
    scrape.start()
    try:
        assert inside.wait(5)
        state.update("system", Reading((gauge("meshkeeper_load1", 9.0),), True, 0.01, 1001.0))
    finally:
        resume.set()
        scrape.join(5)
    assert values(state)[("meshkeeper_load1", ())] == 9.0


def test_a_failed_reading_drops_its_families_and_keeps_its_health() -> None:
    state = State(static=[gauge("meshkeeper_agent_info", 1.0, version="0.1.0")])
    state.update("babel", Reading((gauge("meshkeeper_babel_neighbours", 3.0),), True, 0.02, 1000.0))
    state.update("system", Reading((gauge("meshkeeper_load1", 0.5),), True, 0.01, 1000.0))
    assert values(state)[("meshkeeper_babel_neighbours", ())] == 3.0

    state.update("babel", Reading((), False, 0.125, 1010.5, "babeld is not running"))
    seen = values(state)
    assert "meshkeeper_babel_neighbours" not in names(state)  # no stale numbers as fresh
    assert seen[("meshkeeper_collector_success", health("babel"))] == 0.0
    assert seen[("meshkeeper_collector_duration_seconds", health("babel"))] == 0.125
    assert seen[("meshkeeper_collector_last_run_timestamp_seconds", health("babel"))] == 1010.5
    # The other collector and the static families are untouched.
    assert seen[("meshkeeper_collector_success", health("system"))] == 1.0
    assert seen[("meshkeeper_load1", ())] == 0.5
    assert seen[("meshkeeper_agent_info", (("version", "0.1.0"),))] == 1.0


def test_a_failed_reading_keeps_families_out_even_if_it_carries_some() -> None:
    state = State()
    state.update("babel", Reading((gauge("meshkeeper_babel_neighbours", 3.0),), False, 0.1, 1.0))
    assert "meshkeeper_babel_neighbours" not in names(state)
    assert values(state)[("meshkeeper_collector_success", health("babel"))] == 0.0


def test_readings_is_a_copy() -> None:
    state = State()
    reading = Reading((), True, 0.0, 1.0)
    state.update("system", reading)
    copy = state.readings()
    copy.clear()
    assert state.readings() == {"system": reading}


def test_an_empty_state_still_serves_valid_text() -> None:
    assert list(text_string_to_metric_families(State().exposition()[0].decode())) != []


def test_promtool_accepts_an_exposition_with_health_series() -> None:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    state = State(static=[gauge("meshkeeper_agent_info", 1.0, version="0.1.0")])
    sent = CounterMetricFamily(
        "meshkeeper_interface_transmit_bytes", "Bytes sent on the interface.", labels=["interface"]
    )
    sent.add_metric(["mesh0"], 123456.0)
    state.update("interfaces", Reading((sent,), True, 0.004, 1_700_000_000.25))
    state.update("babel", Reading((), False, 2.0, 1_700_000_001.5, "timed out"))
    body, _ = state.exposition()
    assert b"meshkeeper_collector_success" in body

    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


# --- run_once -----------------------------------------------------------------------------


def failing(exc: Exception) -> Callable[[], list[Metric]]:
    def run() -> list[Metric]:
        raise exc

    return run


@pytest.mark.parametrize(
    "exc",
    [
        CollectorError("babeld is not running"),
        ConnectionRefusedError(111, "Connection refused"),
        FileNotFoundError(2, "No such file or directory", "/proc/net/wireless"),
        ValueError("unparsable line"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_run_once_records_a_failure_and_does_not_raise(
    exc: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    state = State()
    before = time.time()
    reading = run_once(Job("babel", 15, failing(exc)), state)

    assert not reading.success
    assert reading.families == ()
    assert reading.error == str(exc)
    assert before <= reading.finished_at <= time.time()
    assert state.readings() == {"babel": reading}
    assert values(state)[("meshkeeper_collector_success", health("babel"))] == 0.0
    assert "collector babel failed" in caplog.text


def test_run_once_records_families_and_duration() -> None:
    state = State()

    def run() -> list[Metric]:
        time.sleep(0.02)
        return [gauge("meshkeeper_load1", 0.75)]

    reading = run_once(Job("system", 15, run), state)
    assert reading.success
    assert reading.error is None
    assert 0.02 <= reading.duration_seconds < 1.0
    seen = values(state)
    assert seen[("meshkeeper_load1", ())] == 0.75
    assert seen[("meshkeeper_collector_success", health("system"))] == 1.0
    assert seen[("meshkeeper_collector_duration_seconds", health("system"))] == (
        reading.duration_seconds
    )


def test_a_failure_after_a_success_withdraws_the_old_numbers() -> None:
    state = State()
    run_once(Job("system", 15, lambda: [gauge("meshkeeper_load1", 0.75)]), state)
    run_once(Job("system", 15, failing(OSError(5, "Input/output error"))), state)
    assert "meshkeeper_load1" not in names(state)
    assert values(state)[("meshkeeper_collector_success", health("system"))] == 0.0


# --- start: one thread per job --------------------------------------------------------------


@dataclass
class Scheduler:
    state: State = field(default_factory=State)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, *jobs: Job) -> list[threading.Thread]:
        self.threads = start(list(jobs), self.state, self.stop)
        return self.threads


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    running = Scheduler()
    yield running
    running.stop.set()
    for thread in running.threads:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in running.threads)


class Recorder:
    """A job that records when each run started and can take a while."""

    def __init__(self, name: str, seconds: float = 0.0, *, value: float = 1.0) -> None:
        self.name = name
        self.seconds = seconds
        self.value = value
        self.starts: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> list[Metric]:
        with self.lock:
            self.starts.append(time.monotonic())
            runs = len(self.starts)
        time.sleep(self.seconds)
        return [gauge(f"meshkeeper_{self.name}_runs", float(runs))]

    def count(self) -> int:
        with self.lock:
            return len(self.starts)


def test_a_slow_job_delays_neither_the_others_nor_a_scrape(scheduler: Scheduler) -> None:
    release = threading.Event()
    slow_started = threading.Event()

    def slow() -> list[Metric]:
        slow_started.set()
        release.wait(5)  # a hung babeld socket, say
        return [gauge("meshkeeper_slow_runs", 1.0)]

    fast = Recorder("fast")
    try:
        scheduler.start(Job("slow", 0.05, slow), Job("fast", 0.05, fast))
        assert slow_started.wait(2)
        scrapes = []
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            started = time.perf_counter()
            scheduler.state.exposition()
            scrapes.append(time.perf_counter() - started)
            time.sleep(0.02)
        assert not release.is_set()  # the slow job was running all along
        assert "slow" not in scheduler.state.readings()
    finally:
        release.set()
    assert max(scrapes) < 0.05, scrapes
    assert 8 <= fast.count() <= 16  # about 0.6 s / 0.05 s: its rhythm, not the slow job's
    gaps = [b - a for a, b in zip(fast.starts, fast.starts[1:], strict=False)]
    assert 0.03 < statistics.median(gaps) < 0.08, gaps
    assert values(scheduler.state)[("meshkeeper_fast_runs", ())] >= 8


def test_runs_are_anchored_to_the_clock_and_do_not_drift(scheduler: Scheduler) -> None:
    """A job taking 20 ms of a 50 ms interval still starts every 50 ms, not every 70 ms."""
    job = Recorder("steady", 0.02)
    scheduler.start(Job("steady", 0.05, job))
    deadline = time.monotonic() + 2
    while job.count() < 11 and time.monotonic() < deadline:
        time.sleep(0.01)
    scheduler.stop.set()
    assert job.count() >= 11
    assert job.starts[10] - job.starts[0] == pytest.approx(0.5, abs=0.06)


def test_an_overrun_skips_the_missed_slots(scheduler: Scheduler) -> None:
    """A run that takes 0.32 s of a 0.2 s interval: the next starts at the 0.4 s slot."""
    durations = iter([0.32])
    starts: list[float] = []

    def run() -> list[Metric]:
        starts.append(time.monotonic())
        time.sleep(next(durations, 0.0))
        return []

    scheduler.start(Job("overrun", 0.2, run))
    deadline = time.monotonic() + 2
    while len(starts) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    scheduler.stop.set()
    assert len(starts) >= 3
    assert starts[1] - starts[0] == pytest.approx(0.4, abs=0.05)  # not back to back at 0.32
    assert starts[2] - starts[0] == pytest.approx(0.6, abs=0.05)


def test_a_crashing_job_keeps_its_thread_and_runs_again(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[float] = []

    def buggy() -> list[Metric]:
        calls.append(time.monotonic())
        raise KeyError("signal")  # a collector bug, not a read failure

    healthy = Recorder("healthy")
    with caplog.at_level(logging.ERROR, logger="meshkeeper.agent"):
        threads = scheduler.start(Job("buggy", 0.05, buggy), Job("healthy", 0.05, healthy))
        deadline = time.monotonic() + 2
        while len(calls) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(calls) >= 4
        assert all(thread.is_alive() for thread in threads)
    reading = scheduler.state.readings()["buggy"]
    assert not reading.success
    assert reading.error == "crashed: KeyError"
    assert values(scheduler.state)[("meshkeeper_collector_success", health("buggy"))] == 0.0
    assert values(scheduler.state)[("meshkeeper_collector_success", health("healthy"))] == 1.0
    assert "collector buggy crashed" in caplog.text
    assert "KeyError: 'signal'" in caplog.text  # with its traceback, for the bug report
    # ...but once: a router's log buffer must survive a bug that repeats every interval
    assert caplog.text.count("collector buggy crashed") == 1


def test_a_failing_collector_logs_once_until_it_changes(caplog: pytest.LogCaptureFixture) -> None:
    state = State()
    outcomes: list[Exception | None] = [OSError("down"), OSError("down"), None, OSError("other")]

    def flaky() -> list[Metric]:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return []

    job = Job("flaky", 1, flaky)
    with caplog.at_level(logging.INFO, logger="meshkeeper.agent"):
        for _ in range(4):
            run_once(job, state)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "collector flaky failed: down",
        "collector flaky works again",
        "collector flaky failed: other",
    ]


def test_stop_ends_every_thread_promptly(scheduler: Scheduler) -> None:
    threads = scheduler.start(Job("a", 30, Recorder("a")), Job("b", 30, Recorder("b")))
    time.sleep(0.05)
    started = time.monotonic()
    scheduler.stop.set()
    for thread in threads:
        thread.join(timeout=2)
    assert not any(thread.is_alive() for thread in threads)
    assert time.monotonic() - started < 0.5  # stop wakes the 30 s wait at once
    assert {t.name for t in threads} == {"job-a", "job-b"}
