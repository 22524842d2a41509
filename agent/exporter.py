"""HTTP /metrics from the cached state: bounded, timed out, optional TLS and basic auth.

prometheus_client's own server has TLS but no server-side basic auth and one
thread per connection without a bound (../shared/FIELD-NOTES.md), so the agent
serves the exposition itself with http.server:

- at most `workers` connections are served at once, and at most
  `per_client` from one address; one more is answered 503 and closed at once,
  so a flood costs a router no threads and no memory, and one host cannot
  take every worker;
- each request must arrive whole within `client_timeout` and within
  MAX_REQUEST_BYTES: a silent, trickling or bloated client is dropped;
- TLS handshakes happen in the worker thread, never in the accept loop;
- basic auth: PBKDF2 in constant time, run for a wrong username too (no
  username oracle); failed derivations are rate-limited (a flood of bad
  passwords cannot eat the router's CPU); a header that verified once is
  remembered (hashed), so a 10 Hz scraper costs one derivation in total;
- every answer carries the sha256 of the agent.json the agent runs with, so
  `meshkeeper push` can tell the new agent from the old one;
- the body is the state's cached exposition: no scrape waits for a collector;
- nothing a client sends can print a traceback: one log line at most.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import TCPServer
from typing import TYPE_CHECKING, Any

from agent.config import BasicAuth, Listen, Tls
from agent.errors import AgentError
from agent.state import State

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = logging.getLogger("meshkeeper.agent")
BUSY = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
CONFIG_HEADER = "Meshkeeper-Config-Sha256"
MAX_REQUEST_BYTES = 8192  # a scrape's request line and headers are a few hundred bytes
FAILED_LOGINS_PER_SECOND = 2.0
MAX_TRACKED_CLIENTS = 64
MAX_REQUESTS_PER_CONNECTION = 20  # Prometheus reconnects at each 15 s scrape anyway
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


class _Bucket:
    """A token bucket: `rate` per second, at most `burst` saved up."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = burst, time.monotonic()

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class _Auth:
    """Basic auth against a PBKDF2 hash, with derivations rationed per client.

    Each client address gets its own small budget of password checks, and all
    of them together a larger one: a host flooding wrong passwords exhausts
    its own budget, not Prometheus's, which still gets in after a restart
    (when the remembered good headers are gone).
    """

    def __init__(self, auth: BasicAuth) -> None:
        self._auth = auth
        self._good: set[bytes] = set()
        self._lock = threading.Lock()
        self._all = _Bucket(4 * FAILED_LOGINS_PER_SECOND, 4 * FAILED_LOGINS_PER_SECOND)
        self._clients: OrderedDict[str, _Bucket] = OrderedDict()

    def _may_derive(self, client: str) -> bool:
        with self._lock:
            now = time.monotonic()
            bucket = self._clients.pop(client, None) or _Bucket(
                FAILED_LOGINS_PER_SECOND / 2, FAILED_LOGINS_PER_SECOND
            )
            self._clients[client] = bucket  # most recent last
            while len(self._clients) > MAX_TRACKED_CLIENTS:
                self._clients.popitem(last=False)
            return bucket.take(now) and self._all.take(now)

    def allows(self, header: str | None, client: str = "") -> bool:
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
        if not self._may_derive(client):
            return False  # too many attempts: refused without spending CPU on them
        # Both always run: a wrong username costs the same time as a wrong password.
        # bytes: compare_digest raises TypeError on non-ASCII str, which any client can send
        right_user = hmac.compare_digest(user.encode(), self._auth.username.encode())
        right_password = verify_password(password, self._auth.password_hash)
        good = right_user and right_password
        if good:
            with self._lock:
                self._good = {*list(self._good)[:15], fingerprint}  # a few, never unbounded
        return good


def client_key(address: str) -> str:
    """Connections are counted per IPv4 address, per /64 for IPv6 (one host has many)."""
    if ":" not in address:
        return address
    return str(ipaddress.ip_network(f"{address.split('%')[0]}/64", strict=False))


class _DeadlineReader(io.RawIOBase):
    """Socket reads that share one deadline per request.

    A socket timeout alone restarts at every byte: a client sending one byte
    per `client_timeout` would hold a worker forever (slowloris).
    """

    def __init__(self, connection: socket.socket, timeout: float) -> None:
        self._connection = connection
        self._timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.received = 0

    def start_request(self) -> None:
        self.deadline = time.monotonic() + self._timeout
        self.received = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        room = MAX_REQUEST_BYTES - self.received
        if room <= 0:
            raise ConnectionAbortedError("request too large")
        self._connection.settimeout(remaining)
        try:
            count = self._connection.recv_into(memoryview(buffer).cast("B")[:room])
            self.received += count
            return count
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
        self._requests = 0
        self.request.settimeout(self.server.client_timeout)
        super().setup()
        self.rfile.close()
        self._reader = _DeadlineReader(self.connection, self.server.client_timeout)
        self.rfile = io.BufferedReader(self._reader)
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()  # bounded: ssl applies the timeout to the whole call

    def handle_one_request(self) -> None:
        self._reader.start_request()
        super().handle_one_request()
        # Keep-alive, but not forever: a client sending a request just before each
        # deadline would otherwise hold its worker indefinitely.
        self._requests += 1
        if self._requests >= MAX_REQUESTS_PER_CONNECTION:
            self.close_connection = True

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _answer(self, *, with_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if self.server.auth is not None and not self.server.auth.allows(
            self.headers.get("Authorization"), client_key(self.client_address[0])
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
        if self.server.config_sha256:
            self.send_header(CONFIG_HEADER, self.server.config_sha256)
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
        client_timeout: float = 5.0,
        per_client: int = 2,
        config_sha256: str = "",
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in listen.address else socket.AF_INET
        self.state = state
        self.client_timeout = client_timeout
        self.config_sha256 = config_sha256
        self.auth = _Auth(listen.basic_auth) if listen.basic_auth is not None else None
        self._slots = threading.BoundedSemaphore(workers)
        self._per_client = per_client
        self._clients: dict[str, int] = {}
        self._clients_lock = threading.Lock()
        super().__init__((listen.address, listen.port), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the address's name: at boot, or with the
        # upstream resolver cut off (a shutdown), that stalls the agent's start.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def _admit(self, client: str) -> bool:
        with self._clients_lock:
            if self._clients.get(client, 0) >= self._per_client:
                return False
            if not self._slots.acquire(blocking=False):
                return False
            self._clients[client] = self._clients.get(client, 0) + 1
            return True

    def _leave(self, client: str) -> None:
        with self._clients_lock:
            left = self._clients.pop(client, 1) - 1
            if left > 0:
                self._clients[client] = left
            self._slots.release()

    def process_request(self, request: Any, client_address: Any) -> None:
        client = client_key(str(client_address[0]))
        if not self._admit(client):
            self._refuse(request)
            return
        thread = threading.Thread(target=self._work, args=(request, client_address), daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no memory for a thread: refuse, and keep the slot free
            self._leave(client)
            self._refuse(request)

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
        except OSError as exc:  # timeouts, resets, TLS failures (ssl.SSLError)
            log.debug("connection from %s dropped: %s", client_address[0], exc)
        except Exception as exc:  # noqa: BLE001 - the boundary: whatever a client sent, one line
            log.warning(
                "request from %s failed: %s: %s", client_address[0], type(exc).__name__, exc
            )
        finally:
            self.shutdown_request(request)
            self._leave(client_key(str(client_address[0])))


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
