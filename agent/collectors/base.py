"""What every collector is: a name, an interval, and `collect()` into metric families.

A collector reads one part of the node (a socket, netlink, /proc) and returns
prometheus_client metric families. The scheduler runs it on its own interval
and stores the result in the agent's cached state; a scrape only serialises
that cache (ARCHITECTURE.md: "Scrape never waits for a probe").

`collect()` raises CollectorError (or OSError) when its source cannot be read;
the scheduler turns that into `meshkeeper_collector_success{collector} 0` and
keeps the previous families out of the exposition, so stale numbers are never
served as fresh ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from prometheus_client.core import Metric

from agent.config import AgentConfig


@dataclass(frozen=True)
class Host:
    """Where a collector reads the node from; tests point `root` at a fixture tree."""

    root: Path = Path("/")
    babel_timeout: float = 2.0

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")


class Collector(Protocol):
    def collect(self) -> list[Metric]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class CollectorSpec:
    """One entry of agent.collectors.ALL."""

    name: str
    interval_seconds: float  # the default; agent.json may set another
    build: Callable[[AgentConfig, Host], Collector]
    summary: str
