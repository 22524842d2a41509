"""The agent's cached state: the last reading of every collector, and its exposition.

Collectors write here from their own threads; a scrape reads the exposition,
which is serialised once per change and then served from memory, so /metrics
never waits for a collection and costs the same at 10 scrapes a second as at 1.
A failed reading drops that collector's families (stale numbers never pass as
fresh) but keeps its health series: success 0, duration, last-run timestamp.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, exposition
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics import exposition as openmetrics_exposition

from agent import contract

Encoder = Callable[[CollectorRegistry], bytes]


def _encoder(accept: str) -> tuple[Encoder, str]:
    """Exactly two formats, so at most two cached bodies whatever a client sends
    (prometheus_client's choose_encoder echoes the client's version into the
    content type, and raises on versions it does not know)."""
    if "application/openmetrics-text" in accept:
        return openmetrics_exposition.generate_latest, openmetrics_exposition.CONTENT_TYPE_LATEST
    # 0.0.4: what Prometheus 2.x asks for and promtool checks
    return exposition.generate_latest, exposition.CONTENT_TYPE_PLAIN_0_0_4


@dataclass(frozen=True)
class Reading:
    families: tuple[Metric, ...]
    success: bool
    duration_seconds: float
    finished_at: float  # unix time
    error: str | None = None


class State:
    def __init__(self, static: Sequence[Metric] = ()) -> None:
        self._lock = threading.Lock()
        self._static = tuple(static)
        self._readings: dict[str, Reading] = {}
        self._cache: dict[str, tuple[bytes, str]] = {}
        self._generation = 0  # counts updates: a body encoded before one is not cached
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_StateCollector(self))

    def update(self, collector: str, reading: Reading) -> None:
        with self._lock:
            self._readings[collector] = reading
            self._generation += 1
            self._cache.clear()

    def readings(self) -> dict[str, Reading]:
        with self._lock:
            return dict(self._readings)

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The body and content type for a scrape with this Accept header."""
        encoder, content_type = _encoder(accept or "")
        with self._lock:
            cached = self._cache.get(content_type)
            generation = self._generation
        if cached is not None:
            return cached
        body = encoder(self.registry)  # outside the lock: collectors keep updating meanwhile
        with self._lock:
            if generation == self._generation:
                self._cache[content_type] = (body, content_type)
        return body, content_type

    def families(self) -> Iterator[Metric]:
        readings = self.readings()
        yield from self._static
        for reading in readings.values():
            if reading.success:
                yield from reading.families
        yield from _health(readings)


def _health(readings: dict[str, Reading]) -> Iterator[Metric]:
    success = GaugeMetricFamily(
        contract.M_COLLECTOR_SUCCESS,
        "Whether the collector's last run read its source (1) or failed (0).",
        labels=["collector"],
    )
    duration = GaugeMetricFamily(
        "meshkeeper_collector_duration_seconds",
        "How long the collector's last run took.",
        labels=["collector"],
    )
    last = GaugeMetricFamily(
        "meshkeeper_collector_last_run_timestamp_seconds",
        "When the collector's last run finished (unix time): staleness is now minus this.",
        labels=["collector"],
    )
    for name, reading in sorted(readings.items()):
        success.add_metric([name], 1.0 if reading.success else 0.0)
        duration.add_metric([name], reading.duration_seconds)
        last.add_metric([name], reading.finished_at)
    yield from (success, duration, last)


class _StateCollector:
    def __init__(self, state: State) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        return self._state.families()
