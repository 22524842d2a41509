"""`meshkeeper monitoring scrape`: ask every agent once, from the NOC, and summarise.

For an operator without Prometheus yet, or a responder checking quickly: is
each agent answering, on which config generation, and which expected links
does it see down. Prometheus remains the record; this is one look.

An agent is a program on a router anyone near it may have replaced, so its
answer is read as hostile: at most MAX_BODY bytes, within one wall-clock
deadline per agent (the socket timeout alone bounds each read, not the
answer: a slow drip never ends), parsed line by line against that deadline,
and everything it says is escaped and cut before it reaches the terminal.
Whatever goes wrong with one agent is that agent's one line; the others go on.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TextIO, cast

from prometheus_client.parser import text_fd_to_metric_families

from agent import contract
from controller.noc.targets import AgentTarget
from controller.push.health import unverified_tls
from controller.push.report import shown
from controller.tables import table

LOCKED = "answers (needs a password)"
MAX_BODY = 4 * 1024 * 1024
MAX_VERDICT = 20  # classes shown per agent
MAX_LINE = 16 * 1024  # the parser is quadratic in labels per line: no agent writes such lines
_CHUNK = 64 * 1024
_CELL = 60  # characters of one agent-supplied value in the table
_LIST = 80  # characters of a list of them


@dataclass
class AgentView:
    node: str
    target: str
    answer: str  # "ok", LOCKED, or why there is no reading (escaped, one line)

    @property
    def failing(self) -> bool:
        """No answer, or an expected link down."""
        return self.answer not in ("ok", LOCKED) or not all(self.links.values())

    generation: int | None = None
    pending: bool | None = None  # a push waits for its confirm (rollback armed)
    links: dict[str, bool] = field(default_factory=dict)  # expected neighbour → up
    broken: list[str] = field(default_factory=list)  # collectors whose last run failed
    verdict: list[str] = field(default_factory=list)  # the shutdown classes it holds now


class _TooSlow(Exception):
    """The agent's whole answer did not arrive (or could not be read) by the deadline."""


class _TooLarge(Exception):
    """The agent's answer is longer than MAX_BODY."""


class BadAnswer(ValueError):
    """The agent answered, but not with what a meshkeeper agent says."""


def read_exposition(view: AgentView, text: str, deadline: float | None = None) -> AgentView:
    """Fill `view` from an exposition; BadAnswer (or the parser's own error) when the
    text is not what a meshkeeper agent writes."""
    ours = False
    lines = cast(TextIO, _lines(text, deadline))  # the parser only iterates it
    for family in text_fd_to_metric_families(lines):
        for sample in family.samples:
            ours = ours or sample.name.startswith(contract.METRIC_PREFIX)
            if sample.name == contract.M_LINK_UP:
                view.links[_label(sample.labels, "neighbor", sample.name)] = sample.value == 1
            elif sample.name == contract.M_CONFIG_GENERATION:
                view.generation = _whole(sample.value, sample.name)
            elif sample.name == contract.M_CONFIG_PENDING:
                view.pending = sample.value == 1
            elif sample.name == contract.M_COLLECTOR_SUCCESS and sample.value != 1:
                view.broken.append(_label(sample.labels, "collector", sample.name))
            elif sample.name == contract.M_VERDICT and sample.value == 1:
                view.verdict.append(contract.finding_text(sample.labels))
    del view.verdict[MAX_VERDICT:]  # an agent cannot fill the terminal
    if not ours:
        raise BadAnswer(f"no {contract.METRIC_PREFIX} metrics: not a meshkeeper agent")
    return view


def _lines(text: str, deadline: float | None) -> Iterator[str]:
    # "\n" alone ends a line in an exposition (splitlines would also split at "\r")
    for number, line in enumerate(text.split("\n")):
        if len(line) > MAX_LINE:
            raise BadAnswer(f"line {number + 1} is longer than {MAX_LINE // 1024} KiB")
        if deadline is not None and number % 512 == 0 and time.monotonic() > deadline:
            raise _TooSlow
        yield line + "\n"


def _label(labels: dict[str, str], name: str, metric: str) -> str:
    value = labels.get(name)
    if not value:
        raise BadAnswer(f"{metric} without a {name} label")
    return value


def _whole(value: float, metric: str) -> int:
    if not math.isfinite(value) or value != int(value) or not 0 <= value < 2**53:
        raise BadAnswer(f"{metric} is not a whole number ({shown(repr(value), 20)})")
    return int(value)


def scrape_one(target: AgentTarget, timeout: float = 5.0) -> AgentView:
    """One agent's view; `timeout` bounds the whole exchange, parsing included."""
    deadline = time.monotonic() + timeout
    view = AgentView(target.node, target.host_port, "ok")
    try:
        status, body = _fetch(target, deadline)
    except _TooSlow:
        return _without(view, f"no answer within {timeout:g} s")
    except _TooLarge:
        return _without(view, f"answer larger than {MAX_BODY // 2**20} MiB")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # refused, reset, not HTTP, cut mid-answer, TLS refused
        return _without(view, f"no answer ({_why(exc)})")
    if status == 401:
        return _without(view, LOCKED)
    if status != 200:
        return _without(view, f"HTTP {status}")
    try:
        return read_exposition(view, body.decode("utf-8", "replace"), deadline)
    except _TooSlow:
        return _without(view, f"no answer within {timeout:g} s (reading it)")
    except Exception as exc:  # noqa: BLE001 - whatever one agent sent is that agent's one line
        return _without(view, f"bad answer: {_why(exc)}")


def _without(view: AgentView, answer: str) -> AgentView:
    """No reading from this agent: only why (half a reading would mislead)."""
    return AgentView(view.node, view.target, answer)


def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return shown(str(reason), _CELL)


def _fetch(target: AgentTarget, deadline: float) -> tuple[int, bytes]:
    """GET /metrics: (status, body). A watchdog shuts the socket at the deadline,
    which ends any read in progress, however slowly the agent sends."""
    left = deadline - time.monotonic()
    conn = _connection(target, left)
    cut = threading.Event()
    watchdog = threading.Timer(left, _cut, (conn, cut))
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request("GET", "/metrics", headers={"Accept": "text/plain", "Connection": "close"})
        answer = conn.getresponse()
        if answer.status != 200:
            return answer.status, b""
        body = bytearray()
        while chunk := answer.read1(_CHUNK):  # one socket read at most
            body += chunk
            if len(body) > MAX_BODY:
                raise _TooLarge
            if cut.is_set():
                raise _TooSlow
        if cut.is_set():
            raise _TooSlow
        return 200, bytes(body)
    except (OSError, http.client.HTTPException, ValueError):
        if cut.is_set():
            raise _TooSlow from None
        raise
    finally:
        watchdog.cancel()
        conn.close()


def _connection(target: AgentTarget, timeout: float) -> http.client.HTTPConnection:
    # Straight to the agents (http.client reads no http_proxy: mesh addresses stay here).
    # One look, not a record: TLS agents are read without checking their certificate
    # (Prometheus, configured with the CA, is the one to trust their numbers).
    if target.scheme == "https":
        return http.client.HTTPSConnection(
            target.address, target.port, timeout=timeout, context=unverified_tls()
        )
    return http.client.HTTPConnection(target.address, target.port, timeout=timeout)


def _cut(conn: http.client.HTTPConnection, cut: threading.Event) -> None:
    cut.set()
    sock = conn.sock
    if sock is not None:
        # the plain socket's shutdown, also under TLS, ends a blocked read at once
        # (OSError: not connected yet, or already closed)
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def scrape_all(targets: list[AgentTarget], timeout: float = 5.0) -> list[AgentView]:
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        return list(pool.map(lambda t: scrape_one(t, timeout), targets))


def summary_table(views: list[AgentView]) -> str:
    """One line per agent; every value an agent supplied is escaped and cut."""
    rows = [("NODE", "AGENT", "GENERATION", "LINKS UP", "DOWN", "FAILING COLLECTORS", "VERDICT")]
    for v in views:
        up = sum(v.links.values())
        rows.append(
            (
                shown(v.node, _CELL),
                shown(v.answer, 2 * _CELL),
                "-" if v.generation is None else str(v.generation),
                f"{up}/{len(v.links)}" if v.answer == "ok" else "-",
                _names(n for n, ok in v.links.items() if not ok),
                _names(v.broken),
                _names(v.verdict) if v.answer == "ok" else "-",
            )
        )
    return table(rows)


def _names(names: Iterator[str] | list[str]) -> str:
    text = ", ".join(shown(n, _CELL) for n in sorted(names))
    return shown(text, _LIST) if text else "-"
