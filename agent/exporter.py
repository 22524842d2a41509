"""HTTP /metrics from the cached state: one thread, non-blocking, bounded; TLS and basic auth.

prometheus_client's own server has TLS but no server-side basic auth and one
thread per connection without a bound (../shared/FIELD-NOTES.md). This
module's first server had 4 worker threads, 2 per address: two addresses
trickling bytes held every worker and 59 of 60 scrapes got 503. Now one
thread serves every connection from a selector, and nothing one client does
waits on another:

- `max_connections` slots (256, or 64 with TLS: see PLAIN_SLOTS), at most `per_client` per
  address (per /64 for IPv6): an address over its share loses its own
  longest-waiting connection;
- `listen.trusted` (the NOC's Prometheus, the controller) has slots reserved
  that other clients never take; when the others' slots are full, the one of
  theirs that has waited longest without an answer is dropped for the
  newcomer: a trickler can never starve a scraper;
- the TLS handshake and each request head must arrive within
  `header_timeout` (idle keep-alive too), within MAX_REQUEST_BYTES and
  MAX_HEADERS lines; a connection lives `connection_timeout` at most and has
  one answer in flight (pipelined requests wait in the kernel);
- the answer that ends a connection says `Connection: close` (the request
  cap, the lifetime, shutdown, an error, the client's wish), so a keep-alive
  client never writes into a closed socket;
- basic auth: PBKDF2 in constant time, for a wrong username too; derivations
  are rationed per address and, as a share of the one thread's time, in total
  (trusted addresses have their own share); a header that verified is
  remembered, so a 10 Hz scraper costs one derivation in total;
- the config's sha256 as agent/contract.py says: never to an unauthenticated
  client when agent.json holds a password hash;
- the body is the state's cached exposition: no scrape waits for a collector;
- nothing a client sends prints a traceback or reaches the log unescaped.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import ipaddress
import logging
import selectors
import socket
import ssl
import threading
import time
from typing import Any

from agent.auth import Auth, verify_password
from agent.config import Listen, Tls
from agent.contract import (
    CONFIG_HEADER,
    CONFIG_HIDDEN,
    CONFIG_HIDDEN_HEADER,
    CONFIG_PROOF_HEADER,
)
from agent.errors import ConfigError
from agent.request import (
    MAX_REQUEST_BYTES,
    BadRequest,
    Request,
    client_key,
    parse_request,
    printable,
)
from agent.state import State

log = logging.getLogger("meshkeeper.agent")
MAX_REQUESTS_PER_CONNECTION = 20  # Prometheus reconnects at each 15 s scrape anyway
ACCEPTS_PER_WAKE = 16
# Connection slots: a plain one costs about 5 kB, a TLS one about 47 kB in the middle of
# its handshake (measured): 256 plain or 64 TLS stay within a few MB on a router.
PLAIN_SLOTS, TLS_SLOTS = 256, 64
LINGER_SECONDS = 1.0  # after the last answer, reading away what the client still sends
PRESSURE_LOG_SECONDS = 60.0
INDEX = b"meshkeeper-agent: metrics at /metrics\n"
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
NEVER = float("inf")


class _Connection:
    """One client connection's state; the server's thread is the only one to touch it."""

    def __init__(
        self, sock: socket.socket, address: str, trusted: bool, now: float, ends: float
    ) -> None:
        self.sock = sock
        self.address = address
        self.key = client_key(address)
        self.trusted = trusted
        self.since = now  # when it last began waiting for a request (accepted, or answered)
        self.deadline = now  # set by the server: the handshake and request head arrive by then
        self.ends = ends
        self.inbox = bytearray()
        self.outbox: list[memoryview] = []
        self.closing = False  # close once the outbox is sent
        self.lingering = False  # answered for the last time: reading the rest away
        self.handshaking = isinstance(sock, ssl.SSLSocket)
        self.requests = 0
        self.events = 0


class MetricsServer:
    """Serves until shutdown(); serve_forever / shutdown / server_close / server_address
    as socketserver's servers have them."""

    def __init__(
        self,
        listen: Listen,
        state: State,
        tls: ssl.SSLContext | None = None,
        *,
        max_connections: int | None = None,  # None: PLAIN_SLOTS, or TLS_SLOTS with TLS
        per_client: int = 8,
        header_timeout: float = 2.0,
        connection_timeout: float = 30.0,
        config_sha256: str = "",
    ) -> None:
        family = socket.AF_INET6 if ":" in listen.address else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((listen.address, listen.port))
            self.socket.listen(128)
            self.socket.setblocking(False)
        except OSError:
            self.socket.close()
            raise
        self.server_address: tuple[Any, ...] = self.socket.getsockname()
        self.state = state
        self.tls = tls
        self.header_timeout = header_timeout
        self.connection_timeout = connection_timeout
        self.config_sha256 = config_sha256
        self.auth = Auth(listen.basic_auth) if listen.basic_auth is not None else None
        self._trusted = tuple(ipaddress.ip_network(t, strict=False) for t in listen.trusted)
        self._max = max_connections or (TLS_SLOTS if tls is not None else PLAIN_SLOTS)
        self._untrusted_max = self._max - (max(1, self._max // 8) if listen.trusted else 0)
        self._per_client = per_client
        self._connections: dict[_Connection, None] = {}  # in the order accepted
        self._untrusted = 0
        self._per_key: dict[str, int] = {}
        self._selector = selectors.DefaultSelector()
        self._wake_in, self._wake_out = socket.socketpair()
        self._wake_in.setblocking(False)
        self._wake_out.setblocking(False)
        self._stopping = False
        self._drain_until = NEVER
        self._stopped = threading.Event()
        self._stopped.set()
        self._pressure_logged = -NEVER
        self._resume_at = NEVER  # accepting paused (out of descriptors) until then

    # --- the loop -------------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._stopped.clear()
        self._selector.register(self.socket, selectors.EVENT_READ, None)
        self._selector.register(self._wake_in, selectors.EVENT_READ, None)
        try:
            while not (self._stopping and self._drained(time.monotonic())):
                wait = min(poll_interval, self._next_deadline() - time.monotonic())
                ready = self._selector.select(max(0.0, wait))
                # Connections first, new ones last: under a flood of connects, a request
                # that has arrived is answered before its connection can be made room of.
                for key, _ in sorted(ready, key=lambda r: r[0].fileobj is self.socket):
                    self._dispatch(key.fileobj, key.data)
                self._expire(time.monotonic())
        finally:
            for conn in list(self._connections):
                self._drop(conn)
            for sock in (self.socket, self._wake_in):
                if sock in self._selector.get_map():
                    self._selector.unregister(sock)
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop accepting; answer what is already arriving (saying close), then return."""
        self._stopping = True
        with contextlib.suppress(OSError):  # already closed: nothing to wake
            self._wake_out.send(b"x")
        self._stopped.wait()

    def server_close(self) -> None:
        for conn in list(self._connections):
            self._drop(conn)
        self.socket.close()
        self._wake_in.close()
        self._wake_out.close()
        self._selector.close()

    def _dispatch(self, fileobj: Any, conn: _Connection | None) -> None:
        try:
            if fileobj is self.socket:
                self._accept(time.monotonic())
            elif fileobj is self._wake_in:
                self._wake_in.recv(64)
                self._begin_drain(time.monotonic())
            elif conn is not None and conn in self._connections:
                self._serve(conn)
        except OSError as exc:  # resets, timeouts, TLS failures (ssl.SSLError)
            self._drop(conn, printable(str(exc)))
        except Exception as exc:  # noqa: BLE001 - the boundary: whatever a client sent, one line
            where = f"connection from {conn.address}" if conn is not None else "accepting"
            log.warning("%s failed: %s: %s", where, type(exc).__name__, printable(str(exc)))
            self._drop(conn)

    def _serve(self, conn: _Connection) -> None:
        if conn.lingering:
            self._linger(conn)
        elif conn.handshaking:
            self._handshake(conn)
        elif conn.outbox:
            self._write(conn)
        else:
            self._want(conn, selectors.EVENT_READ)
            self._read(conn)

    def _next_deadline(self) -> float:
        soonest = min(self._drain_until, self._resume_at)
        for conn in self._connections:
            soonest = min(soonest, conn.deadline, conn.ends)
        return soonest

    def _expire(self, now: float) -> None:
        if now >= self._resume_at:
            self._resume_at = NEVER
            if not self._stopping:
                self._selector.register(self.socket, selectors.EVENT_READ, None)
        for conn in list(self._connections):
            if now >= conn.ends:
                self._drop(conn, "its connection lifetime is over")
            elif now >= conn.deadline:
                self._drop(conn, "no request in time")
            elif now >= self._drain_until:
                self._drop(conn, "the server stops")

    def _begin_drain(self, now: float) -> None:
        if not self._stopping or self._drain_until != NEVER:
            return
        if self._resume_at == NEVER:  # new connections wait in the backlog, then reset
            self._selector.unregister(self.socket)
        self._resume_at = NEVER
        self._drain_until = now + min(1.0, self.header_timeout)
        for conn in list(self._connections):
            if not conn.inbox and not conn.outbox and not conn.handshaking:
                self._drop(conn)  # idle between requests: nothing is lost

    def _drained(self, now: float) -> bool:
        return not self._connections or now >= self._drain_until

    # --- admission ------------------------------------------------------------------------

    def _accept(self, now: float) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                sock, peer = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._starved(now, exc)
                return  # else the client was gone before its turn (ECONNABORTED)
            self._admit(sock, str(peer[0]), now)

    def _admit(self, sock: socket.socket, address: str, now: float) -> None:
        trusted = self._is_trusted(address)
        if not self._make_room(None if trusted else client_key(address), now):
            with contextlib.suppress(OSError):
                sock.setblocking(False)
                sock.send(BUSY)
            sock.close()
            return
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except OSError as exc:  # the client is gone already
            log.debug("connection from %s dropped: %s", address, exc)
            sock.close()
            return
        conn = _Connection(sock, address, trusted, now, now + self.connection_timeout)
        conn.deadline = now + self.header_timeout
        self._connections[conn] = None
        if not trusted:  # shares are counted for untrusted connections only
            self._untrusted += 1
            self._per_key[conn.key] = self._per_key.get(conn.key, 0) + 1
        self._want(conn, selectors.EVENT_READ)
        # Most clients send their request (or hello) with the connection: serve it now,
        # before the next accept could make room of this connection.
        self._dispatch(conn.sock, conn)

    def _starved(self, now: float, exc: OSError) -> None:
        """Out of descriptors or memory: free an untrusted connection's, and if there is
        none, stop accepting for a moment (a listener that stays readable would spin)."""
        victim = self._longest_waiting(lambda c: not c.trusted)
        if victim is not None:
            self._drop(victim, f"out of resources for a new connection ({exc.strerror})")
            return
        if now - self._pressure_logged > PRESSURE_LOG_SECONDS:
            self._pressure_logged = now
            log.warning("cannot accept connections: %s", exc.strerror)
        self._selector.unregister(self.socket)
        self._resume_at = now + 0.5

    def _make_room(self, key: str | None, now: float) -> bool:
        """Room for one more connection from `key` (None: a trusted one)."""
        if key is not None and self._per_key.get(key, 0) >= self._per_client:
            mine = self._longest_waiting(lambda c: c.key == key and not c.trusted)
            self._drop(mine, "over its address's share")
        full = (
            self._untrusted >= self._untrusted_max
            if key is not None
            else len(self._connections) >= self._max
        )
        if not full:
            return True
        victim = self._longest_waiting(lambda c: not c.trusted)
        if victim is None:
            return False
        if now - self._pressure_logged > PRESSURE_LOG_SECONDS:
            self._pressure_logged = now
            log.warning(
                "every connection slot is taken (%d): dropping the connections of other "
                "clients than listen.trusted that waited longest (an attack, or too few "
                "slots)",
                len(self._connections),
            )
        self._drop(victim, "made room for a new connection")
        return True

    def _longest_waiting(self, which: Any) -> _Connection | None:
        candidates = [c for c in self._connections if which(c)]
        return min(candidates, key=lambda c: c.since) if candidates else None

    def _is_trusted(self, address: str) -> bool:
        if not self._trusted:
            return False
        ip = ipaddress.ip_address(address.split("%")[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        return any(a in net for net in self._trusted for a in (ip, mapped) if a is not None)

    def _want(self, conn: _Connection, events: int) -> None:
        if events == conn.events:
            return
        if conn.events:
            self._selector.modify(conn.sock, events, conn)
        else:
            self._selector.register(conn.sock, events, conn)
        conn.events = events

    def _drop(self, conn: _Connection | None, why: str = "") -> None:
        if conn is None or conn not in self._connections:
            return
        del self._connections[conn]
        if not conn.trusted:
            self._untrusted -= 1
            left = self._per_key.pop(conn.key, 1) - 1
            if left > 0:
                self._per_key[conn.key] = left
        if conn.events:
            self._selector.unregister(conn.sock)
        conn.sock.close()
        if why:
            log.debug("connection from %s closed: %s", conn.address, why)

    # --- reading, answering, writing ------------------------------------------------------

    def _handshake(self, conn: _Connection) -> None:
        try:
            conn.sock.do_handshake()  # type: ignore[attr-defined]
        except ssl.SSLWantReadError:
            self._want(conn, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self._want(conn, selectors.EVENT_WRITE)
            return
        conn.handshaking = False
        self._want(conn, selectors.EVENT_READ)
        self._read(conn)  # the request may sit decrypted in OpenSSL's buffer already

    def _read(self, conn: _Connection) -> None:
        while len(conn.inbox) < MAX_REQUEST_BYTES:
            try:
                chunk = conn.sock.recv(MAX_REQUEST_BYTES - len(conn.inbox))
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                break
            except ssl.SSLWantWriteError:
                self._want(conn, selectors.EVENT_READ | selectors.EVENT_WRITE)
                break
            if not chunk:
                self._drop(conn, "closed by the client")
                return
            conn.inbox += chunk
        self._process(conn)

    def _process(self, conn: _Connection) -> None:
        """Answer the request at the head of the inbox, if it has arrived whole."""
        if conn.outbox or conn not in self._connections:
            return
        end = conn.inbox.find(b"\r\n\r\n")
        if end < 0:
            if len(conn.inbox) >= MAX_REQUEST_BYTES:
                self._drop(conn, f"request head over {MAX_REQUEST_BYTES} bytes")
            return
        head = bytes(conn.inbox[:end])
        del conn.inbox[: end + 4]
        conn.requests += 1
        try:
            request = parse_request(head)
        except BadRequest as exc:
            log.debug("bad request from %s (%s): %s", conn.address, exc, printable(head))
            self._answer(conn, exc.status, b"", close=True)
            return
        self._route(conn, request)

    def _route(self, conn: _Connection, request: Request) -> None:
        headers = request.headers
        has_body = "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
        # With a body, what follows it cannot be trusted to be the next request.
        close = has_body or not request.keep_alive
        if request.method not in ("GET", "HEAD"):
            self._answer(conn, 405, b"", close=close, extra=("Allow: GET, HEAD",))
            return
        if has_body:
            self._answer(conn, 400, b"", close=True)
            return
        head_only = request.method == "HEAD"
        auth = self.auth
        if auth is not None and not auth.allows(
            headers.get("authorization"), conn.key, conn.trusted
        ):
            proven = auth.proven(headers.get(CONFIG_PROOF_HEADER.lower()), conn.key)
            challenge = 'WWW-Authenticate: Basic realm="meshkeeper-agent"'
            self._answer(
                conn, 401, b"authentication required\n", close=close, head_only=head_only,
                extra=(challenge,), shows_config=proven,
            )  # fmt: skip
        elif request.path == "/metrics":
            body, content_type = self.state.exposition(headers.get("accept"))
            self._answer(conn, 200, body, close, head_only, content_type, shows_config=True)
        elif request.path == "/":
            content_type = "text/plain; charset=utf-8"
            self._answer(conn, 200, INDEX, close, head_only, content_type, shows_config=True)
        else:
            body = b"not found: try /metrics\n"
            self._answer(conn, 404, body, close, head_only, shows_config=True)

    def _answer(
        self,
        conn: _Connection,
        status: int,
        body: bytes,
        close: bool = False,
        head_only: bool = False,
        content_type: str = "text/plain",
        *,
        extra: tuple[str, ...] = (),
        shows_config: bool = False,
    ) -> None:
        now = time.monotonic()
        # Whatever ends this connection, this answer says so: a keep-alive client must
        # not send its next request into a socket about to close.
        conn.closing = (
            close
            or conn.requests >= MAX_REQUESTS_PER_CONNECTION
            or self._stopping
            or now + self.header_timeout >= conn.ends
        )
        lines = [
            f"HTTP/1.1 {status} {REASONS[status]}",
            "Server: meshkeeper-agent",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            *self._config_headers(shows_config or self.auth is None),
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            *extra,
            *(("Connection: close",) if conn.closing else ()),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        conn.outbox = [memoryview(head)] + ([] if head_only or not body else [memoryview(body)])
        conn.deadline = NEVER  # the lifetime still bounds a client that will not read
        self._write(conn)

    def _config_headers(self, shown: bool) -> tuple[str, ...]:
        if not self.config_sha256:
            return ()
        if shown:
            return (f"{CONFIG_HEADER}: {self.config_sha256}",)
        return (f"{CONFIG_HIDDEN_HEADER}: {CONFIG_HIDDEN}",)

    def _write(self, conn: _Connection) -> None:
        while conn.outbox:
            try:
                sent = conn.sock.send(conn.outbox[0][:65536])
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
                self._want(conn, selectors.EVENT_WRITE)
                return
            except ssl.SSLWantReadError:
                self._want(conn, selectors.EVENT_READ)
                return
            conn.outbox[0] = conn.outbox[0][sent:]
            if not conn.outbox[0]:
                conn.outbox.pop(0)
        if conn.closing:
            self._finish(conn)
            return
        now = time.monotonic()
        conn.since, conn.deadline = now, now + self.header_timeout
        self._want(conn, selectors.EVENT_READ)
        self._process(conn)  # a pipelined request that arrived meanwhile
        if not conn.outbox and isinstance(conn.sock, ssl.SSLSocket) and conn.sock.pending():
            self._read(conn)

    def _finish(self, conn: _Connection) -> None:
        """Close after the last answer. If the client sent more (requests past the cap,
        a body), read it away first: closing on unread input resets the connection, and
        a reset can destroy the answer before the client reads it (RFC 9112, 9.6)."""
        if not conn.inbox and not self._has_input(conn):
            self._drop(conn)
            return
        conn.sock.shutdown(socket.SHUT_WR)  # the answer is whole; then a FIN, not a reset
        conn.lingering, conn.inbox = True, bytearray()
        conn.deadline = min(conn.ends, time.monotonic() + LINGER_SECONDS)
        self._want(conn, selectors.EVENT_READ)

    def _has_input(self, conn: _Connection) -> bool:
        if isinstance(conn.sock, ssl.SSLSocket):
            return conn.sock.pending() > 0
        try:
            return bool(conn.sock.recv(1, socket.MSG_PEEK))
        except (BlockingIOError, InterruptedError):
            return False

    def _linger(self, conn: _Connection) -> None:
        for _ in range(16):  # at most 1 MiB per wake, then other connections' turn
            try:
                if not conn.sock.recv(65536):
                    self._drop(conn)
                    return
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                return


def tls_context(tls: Tls, source: str = "agent.json") -> ssl.SSLContext:
    """The server's TLS settings; with `client_ca`, clients must show a certificate (mTLS)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert, tls.key)
        if tls.client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(tls.client_ca)
    except OSError as exc:  # ssl.SSLError is an OSError too
        files = ", ".join(f for f in (tls.cert, tls.key, tls.client_ca) if f is not None)
        raise ConfigError(
            source,
            "$.listen.tls",
            f"cannot load the TLS files ({files}): {exc} — "
            "install them on the node or remove listen.tls",
        ) from exc
    return context


__all__ = ["MAX_REQUESTS_PER_CONNECTION", "MetricsServer", "tls_context", "verify_password"]
