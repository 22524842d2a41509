"""`throughput`: one download over plain HTTP, timed: its rate, and how flat that rate was.

Throttling is a rate ten times or more below the target's baseline; the
verdict compares, this probe measures. How a flow is slowed shows in its
shape: a policer (a token bucket) holds it to a steady rate, congestion makes
it vary. So every 4 KiB's arrival is timed, and `detail["cv"]` is the
coefficient of variation of those per-chunk rates: low is flat, a policer's mark.

The download is `target.download` (a path such as /bytes/65536), fetched with
the http probe's client (port 80, bounded reads), stopped after
`settings.download_bytes` body bytes. `value` is body bytes per second, from
the request sent to the last byte. ok when a 200 brought at least one byte: a
download the deadline cuts short is still a measurement (`complete` "no"); one
a reset or a close cuts short fails with that, its rate still given.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from agent.probes.base import Request, Result, result
from agent.probes.http import Exchange, Head, HttpError, failure_for, status_failure, why

CHUNK_BYTES = 4096

Arrival = tuple[float, int]  # when (time.monotonic()), how many body bytes


def variation(arrivals: Sequence[Arrival]) -> float | None:
    """The coefficient of variation of the rates of successive CHUNK_BYTES (or a little more).

    Timed from the first arrival, so the round trip before it is no part of
    any rate. Bytes that arrive at one instant join the next chunk's. None
    with fewer than two chunks: one rate has no variation to speak of.
    """
    rates: list[float] = []
    mark, pending = (arrivals[0][0], 0) if arrivals else (0.0, 0)
    for when, size in arrivals[1:]:
        pending += size
        if pending >= CHUNK_BYTES and when > mark:
            rates.append(pending / (when - mark))
            mark, pending = when, 0
    if len(rates) < 2:
        return None
    mean = sum(rates) / len(rates)
    return math.sqrt(sum((rate - mean) ** 2 for rate in rates) / len(rates)) / mean


def probe(request: Request) -> Result:
    started = time.monotonic()
    target = request.target
    if target.address is None or not target.download:
        missing = "no address" if target.address is None else "no download path"
        return result(request, started, ok=False, failure="unknown_failure", evidence=missing)
    exchange = Exchange(started + request.timeout)
    arrivals: list[Arrival] = []
    head: Head | None = None
    problem: OSError | HttpError | None = None
    try:
        head = exchange.get(request, target.download)
        if head.status == 200:
            for piece in exchange.body(head, request.settings.download_bytes):
                arrivals.append((time.monotonic(), len(piece)))
    except (OSError, HttpError) as exc:
        problem = exc
    finally:
        exchange.close()
    size = sum(n for _, n in arrivals)
    seconds = arrivals[-1][0] - exchange.sent_at if arrivals else 0.0
    rate = size / seconds if seconds > 0 else None
    failure = _failure(head, size, problem)
    detail = {"bytes": str(size), "seconds": f"{seconds:.6f}", "complete": "no"}
    if head is not None:
        detail["status"] = str(head.status)
    if problem is None and size:
        detail["complete"] = "yes"
    if (cv := variation(arrivals)) is not None:
        detail["cv"] = f"{cv:.2f}"
    return result(
        request,
        started,
        ok=not failure,
        failure=failure,
        value=rate,
        evidence=_evidence(head, size, seconds, problem),
        detail=detail,
        sent=exchange.sent,
        received=exchange.received,
    )


def _failure(head: Head | None, size: int, problem: OSError | HttpError | None) -> str:
    if head is not None and head.status != 200:
        return status_failure(head.status) or "http_unexpected_status"
    if size and (problem is None or isinstance(problem, TimeoutError)):
        return ""  # a download the deadline cut short is a rate all the same
    if problem is not None:
        return failure_for(problem)
    return "http_unexpected_body"  # a 200 with an empty body: nothing to time


def _evidence(
    head: Head | None, size: int, seconds: float, problem: OSError | HttpError | None
) -> str:
    if head is None:
        return why(problem) if problem else ""
    text = f"HTTP {head.status}, {size} bytes in {seconds:.3f} s"
    return f"{text}, then {why(problem)}" if problem else text
