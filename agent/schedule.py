"""Runs each job (a collector now, probes later) on its own interval, in its own thread.

A slow or hung job delays only itself: the others keep their rhythm and the
exporter keeps serving the last readings. Runs are anchored to a monotonic
clock (no drift); a run that overruns its interval skips the missed slots
rather than running back to back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.core import Metric

from agent.errors import AgentError
from agent.state import Reading, State

log = logging.getLogger("meshkeeper.agent")


@dataclass(frozen=True)
class Job:
    name: str
    interval_seconds: float
    run: Callable[[], list[Metric]]


def run_once(job: Job, state: State) -> Reading:
    started = time.monotonic()
    previous = state.readings().get(job.name)
    try:
        families = tuple(job.run())
    except (AgentError, OSError, ValueError) as exc:
        reading = Reading((), False, time.monotonic() - started, time.time(), str(exc))
    else:
        reading = Reading(families, True, time.monotonic() - started, time.time())
    state.update(job.name, reading)
    _log_change(job.name, previous, reading)
    return reading


def _log_change(name: str, previous: Reading | None, reading: Reading) -> None:
    """One line when a collector starts failing, fails differently, or recovers: a
    router's log buffer is small, and a line every interval would wipe it."""
    if not reading.success and (previous is None or previous.error != reading.error):
        log.warning("collector %s failed: %s", name, reading.error)
    elif reading.success and previous is not None and not previous.success:
        log.info("collector %s works again", name)


def _loop(job: Job, state: State, stop: threading.Event) -> None:
    due = time.monotonic()
    crashes: set[str] = set()
    while not stop.is_set():
        try:
            run_once(job, state)
        except Exception as exc:  # a collector bug must not end its thread: report it, go on
            kind = type(exc).__name__
            if kind not in crashes:  # the traceback once per kind of bug, then one line
                log.exception("collector %s crashed", job.name)
                crashes.add(kind)
            state.update(job.name, Reading((), False, 0.0, time.time(), f"crashed: {kind}"))
        due += job.interval_seconds
        now = time.monotonic()
        if due < now:
            due = now + job.interval_seconds - (now - due) % job.interval_seconds
        stop.wait(due - now)


def start(jobs: list[Job], state: State, stop: threading.Event) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=_loop, args=(job, state, stop), name=f"job-{job.name}", daemon=True)
        for job in jobs
    ]
    for thread in threads:
        thread.start()
    return threads
