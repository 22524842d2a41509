"""The exporter against hostile clients: many addresses trickling, slow readers, floods.

The scraper (the NOC's Prometheus) and the controller's push health check must
always get through, whatever other clients do. Attackers bind the client side
of their sockets to 127.0.0.2, 127.0.0.3, ... (all of 127/8 is loopback on
Linux), so per-address limits see several hosts. Each attack is bounded in
time; the whole file runs in a few seconds.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import logging
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.core import GaugeMetricFamily

from agent.config import BasicAuth, Listen, Tls
from agent.contract import CONFIG_HEADER, CONFIG_HIDDEN_HEADER, CONFIG_PROOF_HEADER, config_proof
from agent.exporter import MAX_REQUESTS_PER_CONNECTION, MetricsServer, tls_context
from agent.state import Reading, State
from controller.push.health import AgentEndpoint, agent_before, agent_runs
from controller.render.agent_config import password_hash

HOST = "127.0.0.1"
USER = "prometheus"
PASSWORD = "correct horse battery staple"  # noqa: S105 - a test password, nothing real
SALT = bytes(range(16))
ATTACKERS = [f"127.0.0.{n}" for n in range(2, 10)]  # 8 addresses
REQUEST = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"


def make_state() -> State:
    state = State()
    load = GaugeMetricFamily("meshkeeper_load1", "One-minute load average.")
    load.add_metric([], 0.25)
    state.update("system", Reading((load,), True, 0.002, 1_700_000_000.0))
    return state


@contextmanager
def running(
    listen: Listen | None = None, tls: ssl.SSLContext | None = None, **options: Any
) -> Iterator[MetricsServer]:
    server = MetricsServer(listen or Listen(HOST, 0), make_state(), tls, **options)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert not thread.is_alive()


def port_of(server: MetricsServer) -> int:
    return int(server.server_address[1])


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def hashed(password: str = PASSWORD) -> BasicAuth:
    return BasicAuth(USER, password_hash(password, SALT))


def read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, TimeoutError):
        pass
    return b"".join(chunks)


def raw_head(port: int, request: bytes) -> bytes:
    """The head of the server's answer to `request`, sent whole on a new connection."""
    with socket.create_connection((HOST, port), timeout=3) as sock:
        sock.sendall(request)
        return read_to_end(sock).split(b"\r\n\r\n")[0]


# --- attackers ----------------------------------------------------------------------------


@dataclass
class Attack:
    """`per_address` connections from each address, each sending one byte of `payload`
    every `every` seconds (or, with `burst`, all it can and never reading), and
    reconnecting as soon as the server drops it: the pressure never lets up."""

    port: int
    addresses: list[str]
    per_address: int
    payload: bytes = REQUEST[:-2] + b"X-Pad: " + b"a" * 4000
    every: float = 0.1
    burst: bool = False
    connections: int = 0  # how many it opened in all
    _stop: threading.Event = field(default_factory=threading.Event)
    _open: int = 0

    def __enter__(self) -> Attack:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while self._open < len(self.addresses) * self.per_address:
            assert time.monotonic() < deadline, "the attack could not connect"
            time.sleep(0.01)
        time.sleep(0.1)  # the server has accepted them all
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _connect(self, address: str) -> tuple[socket.socket, int]:
        sock = socket.socket()
        sock.bind((address, 0))
        sock.setblocking(False)
        sock.connect_ex((HOST, self.port))
        self.connections += 1
        return sock, 0

    def _run(self) -> None:
        slots = {(a, i): self._connect(a) for a in self.addresses for i in range(self.per_address)}
        self._open = len(slots)
        while not self._stop.wait(self.every):
            for slot, (sock, sent) in list(slots.items()):
                chunk = self.payload[sent:] if self.burst else self.payload[sent : sent + 1]
                try:
                    if chunk:
                        sent += sock.send(chunk)
                    if sock.recv(65536, socket.MSG_PEEK) == b"":
                        raise ConnectionResetError  # the server closed it
                    if not self.burst:
                        sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    pass  # still connecting, or nothing to read yet
                except OSError:
                    sock.close()
                    slots[slot] = self._connect(slot[0])
                    continue
                slots[slot] = (sock, sent % max(1, len(self.payload)))
        for sock, _ in slots.values():
            sock.close()


def scrapes(
    port: int,
    count: int = 60,
    *,
    source: str = HOST,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
    pause: float = 0.005,
) -> list[int | str]:
    """`count` scrapes, each on a new connection as the push health check makes: statuses."""
    statuses: list[int | str] = []
    for _ in range(count):
        connection = (
            http.client.HTTPSConnection(
                HOST, port, timeout=3, context=context, source_address=(source, 0)
            )
            if context is not None
            else http.client.HTTPConnection(HOST, port, timeout=3, source_address=(source, 0))
        )
        try:
            connection.request("GET", "/metrics", headers=headers or {})
            response = connection.getresponse()
            body = response.read()
            good = response.status != 200 or b"meshkeeper_load1 0.25" in body
            statuses.append(response.status if good else "bad body")
        except (OSError, http.client.HTTPException) as exc:
            statuses.append(type(exc).__name__)
        finally:
            connection.close()
        time.sleep(pause)
    return statuses


def success_rate(statuses: list[int | str]) -> float:
    return statuses.count(200) / len(statuses)


# --- class: a few addresses must not deny every scrape -------------------------------------


def test_tricklers_from_eight_addresses_do_not_starve_the_scraper() -> None:
    """8 addresses x 16 trickling connections; the scraper's 60 scrapes all get through.

    Before (4 worker threads, 2 per address, 5 s deadline): 1 of 60 got through.
    """
    with running() as server, Attack(port_of(server), ATTACKERS, 16):
        statuses = scrapes(port_of(server))
    assert success_rate(statuses) >= 0.99, statuses


def test_when_every_slot_is_taken_the_oldest_untrusted_connection_makes_room() -> None:
    """Four times more attacker connections than slots: a newcomer still gets in."""
    with (
        running(max_connections=32, per_client=8) as server,
        Attack(port_of(server), ATTACKERS, 16) as attack,
    ):
        statuses = scrapes(port_of(server))
    assert success_rate(statuses) >= 0.99, statuses
    assert attack.connections > 8 * 16  # the server dropped attackers to make room


def test_a_trusted_scraper_keeps_its_reserved_slots() -> None:
    listen = Listen(HOST, 0, trusted=("127.0.0.0/31",))
    with (
        running(listen, max_connections=32, per_client=8) as server,
        Attack(port_of(server), ATTACKERS, 16),
    ):
        statuses = scrapes(port_of(server))
    assert statuses == [200] * 60


def test_one_address_over_its_cap_loses_its_own_oldest_connection() -> None:
    with running(per_client=4) as server:
        port = port_of(server)
        mine = [socket.create_connection((HOST, port), timeout=3) for _ in range(5)]
        try:
            mine[0].settimeout(2)
            assert mine[0].recv(1) == b""  # the oldest was closed to make room
            mine[-1].sendall(REQUEST)
            mine[-1].settimeout(2)
            assert mine[-1].recv(100).startswith(b"HTTP/1.1 200 ")
        finally:
            for sock in mine:
                sock.close()


def test_idle_connections_from_many_addresses_do_not_starve_the_scraper() -> None:
    with (
        running(max_connections=64) as server,
        Attack(port_of(server), ATTACKERS, 16, payload=b"", every=0.2),
    ):
        statuses = scrapes(port_of(server))
    assert success_rate(statuses) >= 0.99, statuses


def test_clients_that_never_read_their_answers_do_not_starve_the_scraper() -> None:
    """Thousands of pipelined requests, never read: each connection holds one answer."""
    with (
        running(max_connections=64) as server,
        Attack(port_of(server), ATTACKERS, 8, payload=REQUEST * 2000, burst=True),
    ):
        statuses = scrapes(port_of(server))
    assert success_rate(statuses) >= 0.99, statuses


def test_a_bloated_request_is_dropped_and_a_stalled_one_times_out() -> None:
    with running(header_timeout=0.5) as server:
        port = port_of(server)
        with socket.create_connection((HOST, port), timeout=3) as bloated:
            with contextlib.suppress(OSError):  # closed on us mid-send: the point
                bloated.sendall(REQUEST[:-2] + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n")
            bloated.settimeout(3)
            assert b" 200 OK" not in read_to_end(bloated)
        with socket.create_connection((HOST, port), timeout=3) as stalled:
            stalled.sendall(REQUEST[:20])
            started = time.monotonic()
            stalled.settimeout(3)
            assert read_to_end(stalled) == b""
            assert 0.4 < time.monotonic() - started < 1.5


@pytest.mark.parametrize("count", [40, 200])
def test_too_many_headers_are_refused(count: int) -> None:
    headers = b"".join(b"X-%d: 1\r\n" % n for n in range(count))
    with running() as server:
        head = raw_head(port_of(server), REQUEST[:-2] + headers + b"\r\n")
    assert not head.startswith(b"HTTP/1.1 200"), head[:60]


# --- TLS under attack ---------------------------------------------------------------------


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The server's context and a client context that trusts its certificate."""
    d = tmp_path_factory.mktemp("tls")
    key, cert = d / "server.key", d / "server.crt"
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1",
    )  # fmt: skip
    return tls_context(Tls(str(cert), str(key))), ssl.create_default_context(cafile=str(cert))


def test_tls_handshake_tricklers_do_not_starve_the_scraper(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(500)
    server_context, client_context = tls_pair
    with (
        running(tls=server_context) as server,  # 64 slots with TLS
        Attack(port_of(server), ATTACKERS, 16, payload=hello),
    ):
        statuses = scrapes(port_of(server), context=client_context)
    assert success_rate(statuses) >= 0.99, statuses


def test_tls_with_basic_auth_serves_a_keepalive_scraper(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = tls_pair
    listen = Listen(HOST, 0, basic_auth=hashed())
    with running(listen, tls=server_context, config_sha256="ab" * 32) as server:
        connection = http.client.HTTPSConnection(
            HOST, port_of(server), timeout=3, context=client_context
        )
        try:
            for _ in range(3):
                connection.request("GET", "/metrics", headers=basic(USER, PASSWORD))
                response = connection.getresponse()
                assert b"meshkeeper_load1" in response.read()
                assert response.headers[CONFIG_HEADER] == "ab" * 32
        finally:
            connection.close()


# --- password floods ----------------------------------------------------------------------


def test_a_password_flood_from_many_addresses_does_not_lock_out_the_trusted_scraper() -> None:
    listen = Listen(HOST, 0, basic_auth=hashed(), trusted=("127.0.0.1",))
    with running(listen) as server:
        port = port_of(server)
        stop = threading.Event()

        def flood(address: str) -> None:
            n = 0
            while not stop.is_set():
                scrapes(port, 1, source=address, headers=basic(USER, f"guess-{n}"), pause=0)
                n += 1

        flooders = [threading.Thread(target=flood, args=(a,), daemon=True) for a in ATTACKERS]
        for thread in flooders:
            thread.start()
        try:
            time.sleep(0.3)  # every untrusted budget drained by now
            statuses = scrapes(port, headers=basic(USER, PASSWORD))
        finally:
            stop.set()
            for thread in flooders:
                thread.join(timeout=5)
    assert success_rate(statuses) >= 0.99, statuses


# --- the push health check under attack ---------------------------------------------------


def test_the_push_health_check_gets_through_an_attack() -> None:
    """Before: the check met 503s, and push rolled a good router back."""
    new = "ab" * 32
    with running(config_sha256=new) as server, Attack(port_of(server), ATTACKERS, 16):
        seen = agent_before(HOST, port_of(server))
        assert seen is not None and seen.shows_config
        endpoint = AgentEndpoint(HOST, port_of(server), False, False, new)
        assert all(agent_runs(endpoint, seen) for _ in range(20))


# --- class: the answer that ends a connection says so -------------------------------------


def test_one_keepalive_client_object_makes_100_requests_without_an_error() -> None:
    """http.client reconnects by itself after `Connection: close`, not after a silent close."""
    with running() as server:
        connection = http.client.HTTPConnection(HOST, port_of(server), timeout=3)
        errors, closes = [], 0
        try:
            for _ in range(100):
                try:
                    connection.request("GET", "/metrics")
                    response = connection.getresponse()
                    assert b"meshkeeper_load1" in response.read()
                    closes += response.headers["Connection"] == "close"
                except (OSError, http.client.HTTPException) as exc:
                    errors.append(repr(exc))
                    connection.close()
        finally:
            connection.close()
    assert errors == []
    assert closes == 100 // MAX_REQUESTS_PER_CONNECTION


def read_answer(reader: Any) -> bytes:
    """One answer's head (its body read past), from a socket's makefile("rb")."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = reader.readline()
        assert line, "closed before the answer"
        head += line
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    reader.read(length)
    return head


def test_the_answer_that_reaches_the_request_cap_says_close() -> None:
    with running() as server, socket.create_connection((HOST, port_of(server)), timeout=3) as sock:
        reader = sock.makefile("rb")
        for n in range(1, MAX_REQUESTS_PER_CONNECTION + 1):
            sock.sendall(REQUEST)
            head = read_answer(reader)
            assert (b"\r\nConnection: close\r\n" in head) == (n == MAX_REQUESTS_PER_CONNECTION)
        assert reader.read() == b""  # and then it closes


@pytest.mark.parametrize("extra", [5, 2000], ids=["a-few", "kilobytes"])
def test_pipelined_requests_past_the_cap_get_every_answer_up_to_it(extra: int) -> None:
    """The client sent more than the server will answer: the server reads the rest away
    before closing, since closing on unread input resets the connection, and a reset can
    destroy the answers before the client has read them."""
    count = MAX_REQUESTS_PER_CONNECTION + extra
    with running() as server, socket.create_connection((HOST, port_of(server)), timeout=3) as sock:
        sock.sendall(REQUEST * count)
        time.sleep(0.2)  # the server has answered and closed before we read a byte
        reader = sock.makefile("rb")
        heads = [read_answer(reader) for _ in range(MAX_REQUESTS_PER_CONNECTION)]
        assert reader.read() == b""  # a clean end, not a reset
    assert [b"Connection: close" in h for h in heads] == [False] * (len(heads) - 1) + [True]


def test_a_connection_ended_by_its_deadline_says_close_on_its_last_answer() -> None:
    with running(header_timeout=0.2, connection_timeout=0.6) as server:
        connection = http.client.HTTPConnection(HOST, port_of(server), timeout=3)
        answers, errors = [], []
        started = time.monotonic()
        try:
            while time.monotonic() - started < 1.0:
                try:
                    connection.request("GET", "/metrics")
                    response = connection.getresponse()
                    response.read()
                    answers.append(response.headers["Connection"])
                except (OSError, http.client.HTTPException) as exc:
                    errors.append(repr(exc))
                    connection.close()
                time.sleep(0.05)
        finally:
            connection.close()
    assert errors == []
    assert "close" in answers  # the connection's lifetime ended it, and its last answer said so
    assert answers.count("close") < len(answers) / 3  # not every answer


def test_an_answer_sent_while_the_server_shuts_down_says_close() -> None:
    with running() as server, socket.create_connection((HOST, port_of(server)), timeout=3) as sock:
        sock.sendall(REQUEST[:10])
        time.sleep(0.1)
        stopper = threading.Thread(target=server.shutdown)
        stopper.start()
        time.sleep(0.1)
        sock.sendall(REQUEST[10:])
        answer = read_to_end(sock)
        stopper.join(timeout=5)
    head = answer.split(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"Connection: close" in head.split(b"\r\n")


# --- class: nothing derived from agent.json for unauthenticated clients ---------------------


UNAUTHENTICATED = [
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /nowhere HTTP/1.0\r\n\r\n",
    b"GET /metrics HTTP/1.0\r\nAuthorization: Basic " + base64.b64encode(b"p:wrong") + b"\r\n\r\n",
    b"GET /metrics HTTP/1.0\r\n" + CONFIG_PROOF_HEADER.encode() + b": " + b"00" * 32 + b"\r\n\r\n",
    b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    b"DELETE /metrics HTTP/1.0\r\n\r\n",
    b"GARBAGE\r\n\r\n",
]


@pytest.mark.parametrize("request_bytes", UNAUTHENTICATED, ids=range(len(UNAUTHENTICATED)))
def test_unauthenticated_answers_carry_nothing_derived_from_agent_json(
    request_bytes: bytes,
) -> None:
    """Two agents with different configs and password hashes answer the same bytes (but the
    date): no answer is an oracle for guessing the password offline."""
    heads = []
    for password, sha in (("one", "ab" * 32), ("two", "cd" * 32)):
        with running(Listen(HOST, 0, basic_auth=hashed(password)), config_sha256=sha) as server:
            head = raw_head(port_of(server), request_bytes)
        assert sha.encode() not in head
        assert CONFIG_HEADER.encode() not in head
        heads.append([line for line in head.split(b"\r\n") if not line.startswith(b"Date:")])
    assert heads[0] == heads[1]
    assert heads[0][0].split()[1] in (b"400", b"401", b"405")


def test_an_authenticated_answer_names_the_config() -> None:
    with running(Listen(HOST, 0, basic_auth=hashed()), config_sha256="ab" * 32) as server:
        connection = http.client.HTTPConnection(HOST, port_of(server), timeout=3)
        try:
            connection.request("GET", "/metrics", headers=basic(USER, PASSWORD))
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
    assert response.status == 200
    assert response.headers[CONFIG_HEADER] == "ab" * 32


def test_without_basic_auth_every_answer_names_the_config() -> None:
    """agent.json holds no secret then: its hash gives nothing worth guessing away."""
    with running(config_sha256="ab" * 32) as server:
        for path in (b"/metrics", b"/nowhere"):
            head = raw_head(port_of(server), b"GET " + path + b" HTTP/1.0\r\n\r\n")
            assert f"{CONFIG_HEADER}: {'ab' * 32}".encode() in head.split(b"\r\n")


def test_the_controllers_proof_shows_the_hash_and_nothing_more() -> None:
    auth = hashed()
    proof = f"{CONFIG_PROOF_HEADER}: {config_proof(auth.password_hash)}"
    with running(Listen(HOST, 0, basic_auth=auth), config_sha256="ab" * 32) as server:
        proven = raw_head(port_of(server), f"GET /metrics HTTP/1.0\r\n{proof}\r\n\r\n".encode())
        assert proven.startswith(b"HTTP/1.1 401 ")  # a proof is no password: no metrics
        assert f"{CONFIG_HEADER}: {'ab' * 32}".encode() in proven.split(b"\r\n")
        unproven = raw_head(port_of(server), b"GET /metrics HTTP/1.0\r\n\r\n")
        assert f"{CONFIG_HIDDEN_HEADER}: hidden".encode() in unproven.split(b"\r\n")


def test_wrong_proofs_are_rate_limited() -> None:
    """A proof is cheap to check, so guesses at it draw on the password-guess budget."""
    auth = hashed()
    with running(Listen(HOST, 0, basic_auth=auth), config_sha256="ab" * 32) as server:
        port = port_of(server)
        for n in range(10):
            raw_head(port, f"GET / HTTP/1.0\r\n{CONFIG_PROOF_HEADER}: {n:064x}\r\n\r\n".encode())
        right = f"GET / HTTP/1.0\r\n{CONFIG_PROOF_HEADER}: {config_proof(auth.password_hash)}"
        assert CONFIG_HEADER.encode() not in raw_head(port, right.encode() + b"\r\n\r\n")


def test_the_health_check_proves_its_way_to_the_hash_under_basic_auth() -> None:
    new_auth, old_auth = hashed("new password"), hashed("old password")
    new_sha, old_sha = "ab" * 32, "cd" * 32
    proof = config_proof(new_auth.password_hash)
    with running(Listen(HOST, 0, basic_auth=old_auth), config_sha256=old_sha) as server:
        seen = agent_before(HOST, port_of(server))
        assert seen is not None and seen.shows_config  # it withholds the hash, and says so
        endpoint = AgentEndpoint(HOST, port_of(server), False, False, new_sha, proof)
        assert not agent_runs(endpoint, seen)  # the old process, with the old password
    with running(Listen(HOST, 0, basic_auth=new_auth), config_sha256=old_sha) as server:
        endpoint = AgentEndpoint(HOST, port_of(server), False, False, new_sha, proof)
        assert not agent_runs(endpoint, seen)  # the same password, still the old config
    with running(Listen(HOST, 0, basic_auth=new_auth), config_sha256=new_sha) as server:
        endpoint = AgentEndpoint(HOST, port_of(server), False, False, new_sha, proof)
        assert agent_runs(endpoint, seen)


# --- logs and the loop --------------------------------------------------------------------


def test_request_bytes_reach_the_log_escaped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="meshkeeper.agent")
    evil = [
        b"GET /\x1b[2J\x1b[31mPWNED\x07 HTTP/1.1\r\n\r\n",
        b"\x00\x01\x02\x7f\xff\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad\x1b]0;title\x07Header\r\n\r\n",
        b"GET / HTTP/9.9\x1b[0m\r\n\r\n",
    ]
    with running() as server:
        for request in evil:
            raw_head(port_of(server), request)
    messages = [record.getMessage() for record in caplog.records]
    assert any("\\x1b" in message for message in messages), messages
    for message in messages:
        assert message.isprintable(), repr(message)


def test_a_scrape_under_attack_stays_fast() -> None:
    with running() as server, Attack(port_of(server), ATTACKERS, 16):
        took = []
        for _ in range(20):
            started = time.perf_counter()
            assert scrapes(port_of(server), 1, pause=0) == [200]
            took.append(time.perf_counter() - started)
    assert sorted(took)[len(took) // 2] < 0.05, took


def test_no_thread_per_connection() -> None:
    """One concurrency model: the connections share the server's one thread."""
    with running() as server, Attack(port_of(server), ATTACKERS[:2], 8):
        threads = threading.active_count()
        assert scrapes(port_of(server), 5, pause=0) == [200] * 5
        assert threading.active_count() == threads
