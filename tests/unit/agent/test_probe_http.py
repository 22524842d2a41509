"""The http probe against the lab's web server and against hostile raw servers.

Everything listens on 127.0.0.0/8, high ports. The lab services (lab/services)
stand in for a site and a censor's block page; tiny raw servers written here
stand in for middleboxes that flood, drip or say nothing. `RawServer` and the
fixtures are shared with the tls and throughput probes' tests.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.config import Target
from agent.probes import base
from agent.probes import http as http_probe
from agent.probes.base import Request, Settings
from lab.services import config
from lab.services.serve import Services

LOOPBACK = "127.0.0.1"
NOWHERE = "127.0.0.9"  # nothing listens there
Behaviour = Callable[[socket.socket, threading.Event], None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class RawServer:
    """A TCP server on 127.0.0.1 that runs `behave` on every connection, each in a thread."""

    def __init__(self, behave: Behaviour) -> None:
        self.behave = behave
        self.stopping = threading.Event()
        self.listener = socket.socket()
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(8)
        self.listener.settimeout(0.05)
        self.port = int(self.listener.getsockname()[1])
        self.threads = [threading.Thread(target=self._accept)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,))
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        # OSError: the probe hung up first, as probes do at their deadline
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            self.behave(conn, self.stopping)

    def close(self) -> None:
        self.stopping.set()
        for thread in list(self.threads):
            thread.join(5)
        self.listener.close()


@pytest.fixture
def raw() -> Iterator[Callable[[Behaviour], RawServer]]:
    servers: list[RawServer] = []

    def start(behave: Behaviour) -> RawServer:
        servers.append(RawServer(behave))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and (chunk := conn.recv(4096)):
        data += chunk
    return data


def reset(conn: socket.socket) -> None:
    """Make the coming close a TCP RST."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def silent(conn: socket.socket, stopping: threading.Event) -> None:
    stopping.wait(10)


def target(port: int | None, host: str | None = "www.example.test", **extra: Any) -> Target:
    return Target("platforms", "site", ("http",), LOOPBACK, host, port, **extra)


def ask(
    where: Target, timeout: float = 1.5, settings: Settings | None = None, kind: str = "http"
) -> base.Result:
    request = Request(kind, where, base.Path("wan", isp="isp-a"), timeout, settings or Settings())
    return http_probe.probe(request)


PAGE = "<html><head><TITLE>\n  Riverside \t News\x07 </TITLE></head><body>hello</body></html>"
BLOCKPAGE = "<html><title>Blocked by order</title><p>This site is blocked.</p></html>"


def lab_web(services: Services, **block: str) -> int:
    port = free_port()
    entry = {
        "listen": LOOPBACK,
        "port": port,
        "sites": {"www.example.test": PAGE, "chat.test": "chat"},
        "block": block,
        "blockpage": BLOCKPAGE,
    }
    services.start(config.parse({"http": [entry]}))
    return port


# --- against the lab's web server ------------------------------------------------------


def test_a_page_answers_with_its_status_size_and_title(services: Services) -> None:
    port = lab_web(services)
    got = ask(target(port))
    assert (got.ok, got.failure, got.kind, got.uplink) == (True, "", "http", "wan")
    assert got.detail == {"status": "200", "size": str(len(PAGE)), "title": "Riverside News"}
    assert "HTTP 200" in got.evidence and "Riverside News" in got.evidence
    assert got.sent > 100 and got.received > len(PAGE)
    assert got.duration < 1.5


def test_a_451_block_page_is_http_blockpage_with_its_title(services: Services) -> None:
    port = lab_web(services, **{"chat.test": "blockpage"})
    got = ask(target(port, "media.chat.test"))
    assert (got.ok, got.failure) == (False, "http_blockpage")
    assert got.detail["status"] == "451" and got.detail["title"] == "Blocked by order"


def test_a_reset_by_host_is_connection_reset(services: Services) -> None:
    port = lab_web(services, **{"chat.test": "reset"})
    got = ask(target(port, "chat.test"))
    assert (got.ok, got.failure, got.detail) == (False, "connection_reset", {})
    assert ask(target(port)).ok  # the same server, another Host: the control


def test_other_statuses_are_unexpected(services: Services) -> None:
    port = lab_web(services)
    got = ask(target(port, "unknown.test"))
    assert (got.ok, got.failure, got.detail["status"]) == (False, "http_unexpected_status", "404")


def test_port_80_unless_the_target_sets_another_than_443(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = lab_web(services)
    monkeypatch.setattr(http_probe, "HTTP_PORT", port)
    assert ask(target(None)).ok
    assert ask(target(443)).ok  # the tls probe's port: plain HTTP still goes to HTTP_PORT
    assert ask(target(free_port())).failure == "connection_refused"


def test_nothing_listening_is_connection_refused() -> None:
    got = ask(Target("platforms", "site", ("http",), NOWHERE, None, free_port()))
    assert (got.ok, got.failure, got.received) == (False, "connection_refused", 0)


def test_no_address_fails_without_touching_the_network() -> None:
    got = ask(Target("isp", "x", ("http",)))
    assert (got.ok, got.failure, got.evidence) == (False, "unknown_failure", "no address")


# --- hostile servers -------------------------------------------------------------------


def test_a_silent_server_times_out_within_the_budget(raw: Any) -> None:
    server = raw(silent)
    got = ask(target(server.port), timeout=0.5)
    assert (got.ok, got.failure) == (False, "generic_timeout_error")
    assert 0.5 <= got.duration < 0.8


def test_endless_headers_stop_at_the_head_limit(raw: Any) -> None:
    def flood(conn: socket.socket, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stopping.is_set():
            conn.sendall(b"X-Padding: " + b"a" * 1000 + b"\r\n")

    got = ask(target(raw(flood).port))
    assert (got.ok, got.failure) == (False, "unknown_failure")
    assert "head" in got.evidence and got.duration < 1.0
    assert got.received <= http_probe.HEAD_LIMIT + 2 * http_probe.RECV_BYTES


def test_one_huge_line_stops_at_the_head_limit(raw: Any) -> None:
    def huge(conn: socket.socket, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 " + b"O" * 100_000)
        stopping.wait(10)

    got = ask(target(raw(huge).port))
    assert (got.ok, got.failure) == (False, "unknown_failure")


def test_a_slowloris_drip_ends_with_the_deadline(raw: Any) -> None:
    def drip(conn: socket.socket, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stopping.wait(0.01):
            conn.sendall(b"X")

    got = ask(target(raw(drip).port), timeout=0.6)
    assert (got.ok, got.failure) == (False, "generic_timeout_error")
    assert 0.6 <= got.duration < 0.9


def test_an_endless_body_is_read_to_64_kib_and_is_ok(raw: Any) -> None:
    def endless(conn: socket.socket, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<title>big</title>")
        while not stopping.is_set():
            conn.sendall(b"x" * 8192)

    got = ask(target(raw(endless).port))
    assert (got.ok, got.detail["size"], got.detail["title"]) == (True, str(64 * 1024), "big")


def test_a_body_cut_short_is_eof_error_with_what_came(raw: Any) -> None:
    def short(conn: socket.socket, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")

    got = ask(target(raw(short).port))
    assert (got.ok, got.failure, got.detail["size"]) == (False, "eof_error", "10")


def test_a_close_before_any_answer_is_eof_error(raw: Any) -> None:
    def hang_up(conn: socket.socket, stopping: threading.Event) -> None:
        read_request(conn)

    got = ask(target(raw(hang_up).port))
    assert (got.ok, got.failure) == (False, "eof_error")


def test_a_reset_after_the_request_is_connection_reset(raw: Any) -> None:
    def rst(conn: socket.socket, stopping: threading.Event) -> None:
        read_request(conn)
        reset(conn)

    assert ask(target(raw(rst).port)).failure == "connection_reset"


def test_chunked_bodies_are_read(raw: Any) -> None:
    requests: list[bytes] = []

    def chunked(conn: socket.socket, stopping: threading.Event) -> None:
        requests.append(read_request(conn))
        conn.sendall(
            b"HTTP/1.1 302 Found\r\nTransfer-Encoding: chunked\r\nLocation: /x\r\n\r\n"
            b"7;ext=1\r\n<title>\r\n0C\r\nmoved</title\r\n1\r\n>\r\n0\r\n\r\n"
        )
        stopping.wait(10)  # kept open: the last chunk, not the close, ends the body

    server = raw(chunked)
    got = ask(target(server.port))
    assert (got.ok, got.detail) == (True, {"status": "302", "size": "20", "title": "moved"})
    assert requests == [
        f"GET / HTTP/1.1\r\nHost: www.example.test:{server.port}\r\n"
        f"User-Agent: {http_probe.USER_AGENT}\r\nAccept: */*\r\nConnection: close\r\n\r\n".encode()
    ]


def test_an_endless_chunk_size_line_stops_at_its_limit(raw: Any) -> None:
    def endless(conn: socket.socket, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10;")
        while not stopping.is_set():
            conn.sendall(b"x" * 4096)

    got = ask(target(raw(endless).port))
    assert (got.ok, got.failure, got.detail["size"]) == (False, "unknown_failure", "0")
    assert "chunk-size line" in got.evidence and got.duration < 1.0


def test_not_http_is_unknown_failure(raw: Any) -> None:
    def ssh(conn: socket.socket, stopping: threading.Event) -> None:
        conn.sendall(b"SSH-2.0-dropbear\r\n\r\n")

    got = ask(target(raw(ssh).port))
    assert (got.ok, got.failure) == (False, "unknown_failure")
    assert "status line" in got.evidence


# --- parsing, pure -----------------------------------------------------------------------


def test_parse_head() -> None:
    head = http_probe.parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\nx-a: c")
    assert (head.status, dict(head.headers), head.length) == (
        200,
        {"content-length": "5", "x-a": "c"},
        5,
    )
    assert http_probe.parse_head(b"HTTP/1.1 204").length == 0
    assert http_probe.parse_head(b"HTTP/1.1 200 OK\nTransfer-Encoding: Chunked").chunked
    for bad in (b"HTTP/2 200", b"HTTP/1.1 2000 OK", b"HTTP/1.1 200 OK\r\n folded", b"ICY 200"):
        with pytest.raises(http_probe.HttpError):
            http_probe.parse_head(bad)
    with pytest.raises(http_probe.HttpError, match="not a length"):
        _ = http_probe.parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1").length


def test_title_of() -> None:
    title_of = http_probe.title_of
    assert title_of(b"<head><title lang=en>  a\n\tb  </title>") == "a b"
    assert title_of(b"<title>\x1b[31mred</title>") == "[31mred"
    assert title_of(b"<title>" + b"x" * 500 + b"</title>") == "x" * 80
    assert title_of(b"<title>never closed") == title_of(b"no title") == ""
    assert title_of("<title>caf\u00e9 \u2014 ok</title>".encode()) == "caf\u00e9 \u2014 ok"
    started = time.monotonic()
    assert title_of(b"<title" * 20_000) == ""  # hostile: linear, not a regex's backtracking
    assert time.monotonic() - started < 0.5


def test_a_host_that_would_split_the_request_is_refused() -> None:
    where = Target("platforms", "x", ("http",), LOOPBACK, "evil.test\r\nX-Injected: 1", 8080)
    got = ask(where)
    assert (got.ok, got.failure, got.sent) == (False, "unknown_failure", 0)
    with pytest.raises(http_probe.HttpError):
        http_probe.request_bytes(target(80), 80, "/a b")
    assert http_probe.request_bytes(Target("t", "x", (), "::1"), 80, "/").startswith(
        b"GET / HTTP/1.1\r\nHost: [::1]\r\n"
    )
