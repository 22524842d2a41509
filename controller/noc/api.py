"""Asking the NOC's Prometheus and Alertmanager: one bounded JSON GET.

Their answers carry label values the agents chose (neighbour, target, platform
names), so they are read like an agent's: at most MAX_BODY bytes within one
deadline, and every value shown to a person is escaped by the caller
(controller.push.report.shown). A NOC service that cannot be reached, answers
an error or answers what is not JSON is a NocUnreachable with the reason.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import urllib.parse
from typing import Any

from controller.errors import MeshkeeperError
from controller.push.report import shown

MAX_BODY = 64 * 1024 * 1024  # 1,000 routers' verdict series is ~10 MB of JSON
_CHUNK = 256 * 1024


class NocUnreachable(MeshkeeperError):
    """Prometheus or Alertmanager did not give a usable answer."""

    exit_code = 4


def get_json(
    base: str, path: str, params: dict[str, str] | None = None, timeout: float = 10.0
) -> Any:
    """GET base+path?params and decode the JSON answer, all of it within `timeout`
    seconds: a watchdog shuts the socket at the deadline, however slowly the server
    drips its headers or body."""
    url = _url(base)
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    target = f"{url.path.rstrip('/')}{path}{query}"
    conn_type = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = conn_type(url.hostname or "", url.port, timeout=timeout)
    where = f"{url.hostname}:{url.port}" if url.port else str(url.hostname)
    cut = threading.Event()
    watchdog = threading.Timer(timeout, _cut, (conn, cut))
    watchdog.daemon = True
    watchdog.start()
    answer: http.client.HTTPResponse | None = None
    try:
        conn.request("GET", target, headers={"Accept": "application/json"})
        answer = conn.getresponse()
        body = bytearray()
        while chunk := answer.read1(_CHUNK):
            body += chunk
            if len(body) > MAX_BODY:
                raise NocUnreachable(f"{where} answered more than {MAX_BODY >> 20} MiB")
        if cut.is_set():
            raise NocUnreachable(f"{where} did not answer within {timeout:g} s")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if cut.is_set():
            raise NocUnreachable(f"{where} did not answer within {timeout:g} s") from exc
        raise NocUnreachable(
            f"cannot ask {where}: {shown(str(exc) or type(exc).__name__, 80)}"
        ) from exc
    finally:
        watchdog.cancel()
        conn.close()
        if answer is not None:  # an HTTP/1.0 server's answer would stay open until collected
            answer.close()
    if answer.status != 200:
        raise NocUnreachable(f"{where}{shown(path, 60)} answered HTTP {answer.status}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise NocUnreachable(f"{where}{shown(path, 60)} did not answer JSON") from exc


def _url(base: str) -> urllib.parse.SplitResult:
    """`base` as an http(s) URL with a host and a port that is a number, or the error."""
    todo = "give http://HOST:PORT"
    try:
        url = urllib.parse.urlsplit(base)
        url.port  # noqa: B018 - a port that is no number (or past 65535) raises here
        (url.hostname or "").encode("idna")
    except (ValueError, UnicodeError) as exc:
        raise NocUnreachable(f"{shown(base, 80)} is not a URL ({exc}) — {todo}") from exc
    if url.scheme not in ("http", "https") or not url.hostname:
        raise NocUnreachable(f"{shown(base, 80)} is not an http(s) URL — {todo}")
    return url


def _cut(conn: http.client.HTTPConnection, cut: threading.Event) -> None:
    cut.set()
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # not connected yet, or closed already
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
