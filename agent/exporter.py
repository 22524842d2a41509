"""HTTP /metrics from the cached state: bounded, timed out, optional TLS and basic auth.

prometheus_client's own server has TLS but no server-side basic auth and one
thread per connection without a bound (../shared/FIELD-NOTES.md), so the agent
serves the exposition itself with http.server:

- at most `workers` connections are served at once; one more is answered 503
  and closed at once, so a flood costs a router no threads and no memory;
- each connection has a socket timeout: a client that sends nothing or reads
  slowly is dropped, and cannot hold a worker for longer than that;
- TLS handshakes happen in the worker thread, never in the accept loop;
- basic auth compares a PBKDF2 hash in constant time; a header that verified
  once is remembered (hashed), so a 10 Hz scraper costs one PBKDF2 in total;
- the body is the state's cached exposition: no scrape waits for a collector.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any

from agent.config import BasicAuth, Listen, Tls
from agent.errors import AgentError
from agent.state import State

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = logging.getLogger("meshkeeper.agent")
BUSY = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
INDEX = b"meshkeeper-agent: metrics at /metrics\n"


def verify_password(password: str, hashed: str) -> bool:
    """`pbkdf2_sha256$ITERATIONS$SALT_HEX$HASH_HEX` (as the controller renders it)."""
    scheme, iterations, salt, digest = hashed.split("$")
    if scheme != "pbkdf2_sha256":
        return False
    computed = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), bytes.fromhex(salt), int(iterations)
    )
    return hmac.compare_digest(computed.hex(), digest)


class _Auth:
    def __init__(self, auth: BasicAuth) -> None:
        self._auth = auth
        self._good: set[bytes] = set()
        self._lock = threading.Lock()

    def allows(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        fingerprint = hashlib.sha256(header.encode()).digest()
        with self._lock:
            if fingerprint in self._good:
                return True
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        # bytes: compare_digest raises TypeError on non-ASCII str, which any client can send
        good = hmac.compare_digest(user.encode(), self._auth.username.encode()) and verify_password(
            password, self._auth.password_hash
        )
        if good:
            with self._lock:
                self._good = {*list(self._good)[:15], fingerprint}  # a few, never unbounded
        return good


class _DeadlineReader(io.RawIOBase):
    """Socket reads that share one deadline per request.

    A socket timeout alone restarts at every byte: a client sending one byte
    per `client_timeout` would hold a worker forever (slowloris).
    """

    def __init__(self, connection: socket.socket, timeout: float) -> None:
        self._connection = connection
        self._timeout = timeout
        self.deadline = time.monotonic() + timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._connection.settimeout(remaining)
        try:
            return self._connection.recv_into(buffer)
        finally:
            self._connection.settimeout(self._timeout)  # writes keep the full timeout


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    protocol_version = "HTTP/1.1"
    server_version = "meshkeeper-agent"
    sys_version = ""
    # Headers and body go out as two writes: with Nagle, the body waits for the
    # client's delayed ACK (~40 ms) on every keep-alive scrape after the first.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        self.request.settimeout(self.server.client_timeout)
        super().setup()
        self.rfile.close()
        self._reader = _DeadlineReader(self.connection, self.server.client_timeout)
        self.rfile = io.BufferedReader(self._reader)
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()  # bounded: ssl applies the timeout to the whole call

    def handle_one_request(self) -> None:
        self._reader.deadline = time.monotonic() + self.server.client_timeout
        super().handle_one_request()

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _answer(self, *, with_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if self.server.auth is not None and not self.server.auth.allows(
            self.headers.get("Authorization")
        ):
            self._send(401, b"authentication required\n", "text/plain", with_body, realm=True)
        elif path == "/metrics":
            body, content_type = self.server.state.exposition(self.headers.get("Accept"))
            self._send(200, body, content_type, with_body)
        elif path == "/":
            self._send(200, INDEX, "text/plain; charset=utf-8", with_body)
        else:
            self._send(404, b"not found: try /metrics\n", "text/plain", with_body)

    def _send(
        self, code: int, body: bytes, content_type: str, with_body: bool, realm: bool = False
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if realm:
            self.send_header("WWW-Authenticate", 'Basic realm="meshkeeper-agent"')
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None  # a scrape every few seconds would fill a router's log


class MetricsServer(HTTPServer):
    daemon_threads = True
    request_queue_size = 16

    def __init__(
        self,
        listen: Listen,
        state: State,
        tls: ssl.SSLContext | None = None,
        workers: int = 4,
        client_timeout: float = 10.0,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in listen.address else socket.AF_INET
        self.state = state
        self.client_timeout = client_timeout
        self.auth = _Auth(listen.basic_auth) if listen.basic_auth is not None else None
        self._slots = threading.BoundedSemaphore(workers)
        super().__init__((listen.address, listen.port), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        thread = threading.Thread(target=self._work, args=(request, client_address), daemon=True)
        thread.start()

    def _refuse(self, request: socket.socket) -> None:
        try:
            request.settimeout(0.5)
            if not isinstance(request, ssl.SSLSocket):
                request.sendall(BUSY)
        except OSError:
            pass
        finally:
            self.shutdown_request(request)

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except (OSError, ssl.SSLError) as exc:
            log.debug("connection from %s dropped: %s", client_address[0], exc)
        finally:
            self.shutdown_request(request)
            self._slots.release()


def tls_context(tls: Tls) -> ssl.SSLContext:
    """The server's TLS settings; with `client_ca`, clients must show a certificate (mTLS)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert, tls.key)
        if tls.client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(tls.client_ca)
    except OSError as exc:  # ssl.SSLError is an OSError too
        raise AgentError(
            f"cannot load the TLS files ({tls.cert}, {tls.key}, {tls.client_ca}): {exc} — "
            "install them on the node or remove listen.tls"
        ) from exc
    return context
