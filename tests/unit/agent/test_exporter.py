"""The /metrics server: content negotiation, basic auth, TLS and mTLS, slow and abusive clients.

Every server listens on 127.0.0.1 with an ephemeral port and is shut down by
the `serve` fixture. Certificates are made with the openssl CLI, once per module.
Timing bounds leave generous slack (checked with 8 runs at once on 2 cores) so a busy machine
does not make them flaky, yet a hang or an unbounded wait still fails them.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import socket
import ssl
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from agent import auth as agent_auth
from agent.config import BasicAuth, Listen, Tls
from agent.errors import AgentError
from agent.exporter import MetricsServer, tls_context, verify_password
from agent.state import Reading, State
from controller.render.agent_config import password_hash

HOST = "127.0.0.1"
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_ACCEPT = "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"
CLIENT_TIMEOUT = 0.5  # the server's header_timeout in these tests
USER = "prometheus"
PASSWORD = "correct horse battery staple"  # noqa: S105 - a test password, nothing real


# --- fixtures -----------------------------------------------------------------------------


def make_state() -> State:
    """A state with a static family, one good collector and one failed collector."""
    info = GaugeMetricFamily("meshkeeper_agent_info", "The agent's version.", labels=["version"])
    info.add_metric(["0.1.0"], 1.0)
    state = State(static=[info])
    load = GaugeMetricFamily("meshkeeper_load1", "One-minute load average.")
    load.add_metric([], 0.25)
    sent = CounterMetricFamily(
        "meshkeeper_interface_transmit_bytes", "Bytes sent.", labels=["interface"]
    )
    sent.add_metric(["mesh0"], 123456.0)
    state.update("system", Reading((load, sent), True, 0.002, 1_700_000_000.0))
    state.update("babel", Reading((), False, 0.001, 1_700_000_001.0, "babeld is not running"))
    return state


@dataclass
class Running:
    server: MetricsServer
    state: State

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


Serve = Callable[..., Running]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start MetricsServer instances on 127.0.0.1:0; shut every one down afterwards."""
    started: list[tuple[MetricsServer, threading.Thread]] = []

    def start(
        *,
        basic_auth: BasicAuth | None = None,
        tls: ssl.SSLContext | None = None,
        max_connections: int | None = None,
        header_timeout: float = CLIENT_TIMEOUT,
        per_client: int = 8,
        config_sha256: str = "",
    ) -> Running:
        state = make_state()
        listen = Listen(HOST, 0, basic_auth=basic_auth)
        server = MetricsServer(
            listen,
            state,
            tls,
            max_connections=max_connections,
            header_timeout=header_timeout,
            per_client=per_client,
            config_sha256=config_sha256,
        )
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        started.append((server, thread))
        return Running(server, state)

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass(frozen=True)
class Pki:
    server_cert: Path  # self-signed, for 127.0.0.1
    server_key: Path
    ca_cert: Path  # signs the good client certificate
    client_cert: Path
    client_key: Path
    rogue_cert: Path  # a client certificate from another, self-signed CA
    rogue_key: Path


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def certificate(d: Path, name: str, subject: str, *, ca: str | None = None) -> tuple[Path, Path]:
    """A P-256 key and certificate: self-signed, or signed by the CA named `ca` in `d`."""
    key, cert, days = d / f"{name}.key", d / f"{name}.crt", ("-days", "2")
    new_key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    if ca is None:
        san = ("-addext", "subjectAltName=IP:127.0.0.1") if subject == "/CN=127.0.0.1" else ()
        openssl(
            "req", "-x509", *new_key, "-keyout", key, "-out", cert, *days, "-subj", subject, *san
        )
    else:
        csr = d / f"{name}.csr"
        openssl("req", "-new", *new_key, "-keyout", key, "-out", csr, "-subj", subject)
        signer = ("-CA", d / f"{ca}.crt", "-CAkey", d / f"{ca}.key", "-set_serial", "2")
        openssl("x509", "-req", "-in", csr, *signer, *days, "-out", cert)
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    server = certificate(d, "server", "/CN=127.0.0.1")
    certificate(d, "ca", "/CN=meshkeeper-test-ca")
    client = certificate(d, "client", "/CN=prometheus", ca="ca")
    rogue = certificate(d, "rogue", "/CN=prometheus")
    return Pki(*server, d / "ca.crt", *client, *rogue)


# --- clients ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def get(
    port: int,
    path: str = "/metrics",
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> Answer:
    connection: http.client.HTTPConnection = (
        http.client.HTTPSConnection(HOST, port, timeout=5, context=context)
        if context is not None
        else http.client.HTTPConnection(HOST, port, timeout=5)
    )
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def connect(port: int) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=5)


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset after data counts as closed)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def seconds_to_close(sock: socket.socket, since: float, limit: float = 3.0) -> tuple[float, bytes]:
    """Seconds from `since` until the server closes this connection, and what it sent."""
    sock.settimeout(limit)
    data = read_to_end(sock)
    return time.monotonic() - since, data


def metric_values(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


# --- content ------------------------------------------------------------------------------


def test_metrics_serves_the_cached_exposition(serve: Serve) -> None:
    running = serve()
    answer = get(running.port)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == TEXT_FORMAT
    assert answer.body == running.state.exposition()[0]
    assert int(answer.headers["Content-Length"]) == len(answer.body)
    values = metric_values(answer.body)
    assert values[("meshkeeper_agent_info", (("version", "0.1.0"),))] == 1.0
    assert values[("meshkeeper_load1", ())] == 0.25
    assert values[("meshkeeper_interface_transmit_bytes_total", (("interface", "mesh0"),))] == (
        123456.0
    )
    assert values[("meshkeeper_collector_success", (("collector", "babel"),))] == 0.0
    assert values[("meshkeeper_collector_success", (("collector", "system"),))] == 1.0


def test_a_new_reading_is_served_on_the_next_scrape(serve: Serve) -> None:
    running = serve()
    before = metric_values(get(running.port).body)
    load = GaugeMetricFamily("meshkeeper_load1", "One-minute load average.")
    load.add_metric([], 3.5)
    running.state.update("system", Reading((load,), True, 0.002, 1_700_000_100.0))
    after = metric_values(get(running.port).body)
    assert before[("meshkeeper_load1", ())] == 0.25
    assert after[("meshkeeper_load1", ())] == 3.5


def test_openmetrics_is_served_when_asked_for(serve: Serve) -> None:
    running = serve()
    answer = get(running.port, headers={"Accept": OPENMETRICS_ACCEPT})
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/openmetrics-text; version=")
    assert answer.body.endswith(b"# EOF\n")
    assert answer.body == running.state.exposition(OPENMETRICS_ACCEPT)[0]
    assert answer.body != running.state.exposition()[0]


def test_head_sends_the_headers_and_no_body(serve: Serve) -> None:
    running = serve()
    with connect(running.port) as sock:
        sock.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = read_to_end(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    length = len(running.state.exposition()[0])
    assert f"Content-Length: {length}".encode() in head.split(b"\r\n")
    assert body == b""


def test_other_paths_are_404_and_the_index_points_at_metrics(serve: Serve) -> None:
    running = serve()
    missing = get(running.port, "/metrics/extra")
    assert missing.status == 404
    assert b"meshkeeper_" not in missing.body
    index = get(running.port, "/")
    assert index.status == 200
    assert index.body == b"meshkeeper-agent: metrics at /metrics\n"
    assert get(running.port, "/metrics?debug=1").status == 200  # a query string is ignored


def test_one_connection_serves_several_scrapes_quickly(serve: Serve) -> None:
    """HTTP/1.1 keep-alive: Prometheus reuses its connection between scrapes.

    Each scrape must take well under Linux's 40 ms delayed ACK: with Nagle left
    on, the body written after the headers waited for it on every scrape but the first.
    """
    running = serve()
    connection = http.client.HTTPConnection(HOST, running.port, timeout=5)
    took = []
    try:
        for _ in range(5):
            started = time.perf_counter()
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            body = response.read()
            took.append(time.perf_counter() - started)
            assert response.status == 200
            assert body == running.state.exposition()[0]
    finally:
        connection.close()
    assert statistics.median(took[1:]) < 0.025, took


# --- basic auth ---------------------------------------------------------------------------


@pytest.fixture
def auth() -> BasicAuth:
    # The controller's own renderer makes the hash: this is the controller/agent contract.
    return BasicAuth(USER, password_hash(PASSWORD, bytes(range(16))))


def test_the_controllers_hash_verifies_with_the_agent(auth: BasicAuth) -> None:
    assert verify_password(PASSWORD, auth.password_hash)
    assert not verify_password(PASSWORD + " ", auth.password_hash)
    assert not verify_password("", auth.password_hash)


def test_no_credentials_get_401_with_a_challenge(serve: Serve, auth: BasicAuth) -> None:
    running = serve(basic_auth=auth)
    for path in ("/metrics", "/", "/elsewhere"):  # no path is revealed without credentials
        answer = get(running.port, path)
        assert answer.status == 401
        assert answer.headers["WWW-Authenticate"] == 'Basic realm="meshkeeper-agent"'
        assert b"meshkeeper_" not in answer.body


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(basic(USER, "wrong"), id="wrong-password"),
        pytest.param(basic("admin", PASSWORD), id="wrong-user"),
        pytest.param(basic(USER, ""), id="empty-password"),
        pytest.param(basic("prométhée", PASSWORD), id="non-ascii-user"),
        pytest.param(basic(USER, "pässwörd"), id="non-ascii-password"),
        pytest.param({"Authorization": "Basic !!!not-base64!!!"}, id="not-base64"),
        pytest.param(
            {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode()}, id="not-utf8"
        ),
        pytest.param({"Authorization": "Bearer " + PASSWORD}, id="other-scheme"),
    ],
)
def test_bad_credentials_get_401(serve: Serve, auth: BasicAuth, headers: dict[str, str]) -> None:
    running = serve(basic_auth=auth)
    answer = get(running.port, headers=headers)
    assert answer.status == 401
    assert b"meshkeeper_" not in answer.body


def test_the_right_credentials_get_the_metrics(serve: Serve, auth: BasicAuth) -> None:
    running = serve(basic_auth=auth)
    for _ in range(2):  # the second time from the remembered header
        answer = get(running.port, headers=basic(USER, PASSWORD))
        assert answer.status == 200
        assert answer.body == running.state.exposition()[0]
    assert get(running.port, headers=basic(USER, "wrong")).status == 401  # not remembered


def test_head_without_credentials_gets_401_and_no_body(serve: Serve, auth: BasicAuth) -> None:
    running = serve(basic_auth=auth)
    answer = get(running.port, method="HEAD")
    assert answer.status == 401
    assert answer.body == b""


# --- TLS and mTLS -------------------------------------------------------------------------


def client_context(pki: Pki, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.server_cert))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def test_tls_serves_the_metrics(serve: Serve, pki: Pki) -> None:
    running = serve(tls=tls_context(Tls(str(pki.server_cert), str(pki.server_key))))
    answer = get(running.port, context=client_context(pki))
    assert answer.status == 200
    assert answer.body == running.state.exposition()[0]


def test_tls_refuses_plain_http(serve: Serve, pki: Pki) -> None:
    running = serve(tls=tls_context(Tls(str(pki.server_cert), str(pki.server_key))))
    with connect(running.port) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        elapsed, data = seconds_to_close(sock, time.monotonic())
    assert b"meshkeeper_" not in data
    assert not data.startswith(b"HTTP/1.1 200")
    assert elapsed < 3.0


def test_tls_handshakes_happen_off_the_accept_loop(serve: Serve, pki: Pki) -> None:
    """A client that connects and never says hello must not stall the next one."""
    running = serve(
        tls=tls_context(Tls(str(pki.server_cert), str(pki.server_key))), header_timeout=2.0
    )
    with connect(running.port) as _silent:
        started = time.monotonic()
        answer = get(running.port, context=client_context(pki))
        elapsed = time.monotonic() - started
    assert answer.status == 200
    assert elapsed < 1.0  # well under the silent client's 2 s timeout


def test_a_trickled_tls_handshake_is_dropped_after_the_timeout(serve: Serve, pki: Pki) -> None:
    running = serve(tls=tls_context(Tls(str(pki.server_cert), str(pki.server_key))))
    with connect(running.port) as sock:
        started = time.monotonic()
        closed = trickle(sock, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40))
        elapsed = time.monotonic() - started
    assert closed
    assert elapsed < CLIENT_TIMEOUT + 0.7


def test_missing_tls_files_are_an_agent_error(tmp_path: Path) -> None:
    missing = tmp_path / "tls.crt"
    with pytest.raises(AgentError, match=r"cannot load the TLS files .*remove listen\.tls"):
        tls_context(Tls(str(missing), str(tmp_path / "tls.key")))


@pytest.fixture
def mtls(serve: Serve, pki: Pki) -> Running:
    tls = Tls(str(pki.server_cert), str(pki.server_key), client_ca=str(pki.ca_cert))
    return serve(tls=tls_context(tls))


def test_mtls_admits_a_client_certificate_the_ca_signed(mtls: Running, pki: Pki) -> None:
    answer = get(mtls.port, context=client_context(pki, pki.client_cert, pki.client_key))
    assert answer.status == 200
    assert answer.body == mtls.state.exposition()[0]


def handshake_tls12(port: int, context: ssl.SSLContext) -> None:
    """A TLS 1.2 handshake: there the server's verdict on the client comes inside it."""
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with connect(port) as raw:
        context.wrap_socket(raw, server_hostname=HOST).close()


def test_mtls_fails_the_handshake_without_a_client_certificate(mtls: Running, pki: Pki) -> None:
    with pytest.raises(ssl.SSLError, match=r"SSLV3_ALERT_HANDSHAKE_FAILURE"):
        handshake_tls12(mtls.port, client_context(pki))


def test_mtls_fails_the_handshake_with_a_certificate_from_another_ca(
    mtls: Running, pki: Pki
) -> None:
    with pytest.raises(ssl.SSLError, match=r"TLSV1_ALERT_UNKNOWN_CA"):
        handshake_tls12(mtls.port, client_context(pki, pki.rogue_cert, pki.rogue_key))


def test_mtls_handshake_succeeds_with_the_ca_signed_certificate(mtls: Running, pki: Pki) -> None:
    """The control for the two above: the same TLS 1.2 handshake, a good certificate."""
    handshake_tls12(mtls.port, client_context(pki, pki.client_cert, pki.client_key))


@pytest.mark.parametrize("with_rogue_cert", [False, True], ids=["no-cert", "other-ca"])
def test_mtls_never_answers_a_tls13_client_it_refused(
    mtls: Running, pki: Pki, with_rogue_cert: bool
) -> None:
    """TLS 1.3 finishes the client's side first: the refusal arrives instead of the answer.

    As an alert, or as EOF or a reset when the server has already closed by the
    time the request reaches it: never as an HTTP answer.
    """
    rogue = (pki.rogue_cert, pki.rogue_key) if with_rogue_cert else (None, None)
    context = client_context(pki, *rogue)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        get(mtls.port, context=context)


# --- slow and abusive clients -------------------------------------------------------------


def trickle(sock: socket.socket, data: bytes, every: float = 0.15, limit: float = 2.5) -> bool:
    """Send one byte every `every` seconds; True as soon as the server has closed on us."""
    started = time.monotonic()
    sock.settimeout(every)
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            pass  # the server is still waiting for us: go on
        except (ConnectionResetError, BrokenPipeError):
            return True
        if time.monotonic() - started > limit:
            return False
    return False


def test_a_flood_of_idle_connections_makes_room_and_then_times_out(serve: Serve) -> None:
    """More idle connections than slots: the one that waited longest makes room for the
    newcomer (closed unanswered, at once), and the scraper is answered at once.

    Before, a worker-thread server answered the newcomer 503 instead: two addresses
    holding every worker denied every scrape (see test_exporter_hostile.py).
    """
    slots = 2
    running = serve(max_connections=slots)
    idle = [connect(running.port) for _ in range(slots + 1)]
    try:
        started = time.monotonic()
        assert seconds_to_close(idle[0], started)[1] == b""  # made room for idle[-1]
        with connect(running.port) as honest:
            honest.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            honest.settimeout(2)
            assert read_to_end(honest).startswith(b"HTTP/1.1 200 OK\r\n")
        assert time.monotonic() - started < CLIENT_TIMEOUT  # at once, not after a timeout
        assert seconds_to_close(idle[1], started)[1] == b""  # made room for the scraper
        # The one left is dropped after the timeout, with no answer.
        elapsed, sent = seconds_to_close(idle[2], started)
        assert sent == b""
        assert CLIENT_TIMEOUT - 0.1 < elapsed < CLIENT_TIMEOUT + 1.0
    finally:
        for sock in idle:
            sock.close()
    assert honest_status_soon(running.port) == 200


def honest_status_soon(port: int, within: float = 1.0) -> int:
    """The first non-503 status within `within` s (a worker is freed just after it closes)."""
    deadline = time.monotonic() + within
    status = get(port).status
    while status == 503 and time.monotonic() < deadline:
        time.sleep(0.02)
        status = get(port).status
    return status


@pytest.mark.parametrize(
    "partial",
    [
        pytest.param(b"GET /metr", id="partial-request-line"),
        pytest.param(b"GET /metrics HTTP/1.1\r\nHost: x\r\n", id="headers-never-end"),
    ],
)
def test_a_client_that_stalls_mid_request_is_dropped(serve: Serve, partial: bytes) -> None:
    running = serve()
    with connect(running.port) as sock:
        sock.sendall(partial)
        started = time.monotonic()
        elapsed, sent = seconds_to_close(sock, started)
    assert sent == b""
    assert CLIENT_TIMEOUT - 0.1 < elapsed < CLIENT_TIMEOUT + 1.0
    assert get(running.port).status == 200


def test_a_client_trickling_its_request_cannot_hold_a_worker(serve: Serve) -> None:
    """Slowloris: a byte every 0.15 s restarts a plain socket timeout every time."""
    running = serve()
    with connect(running.port) as sock:
        started = time.monotonic()
        closed = trickle(sock, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 40)
        elapsed = time.monotonic() - started
    assert closed, "the server kept a trickling client for 2.5 s"
    assert elapsed < CLIENT_TIMEOUT + 0.7


def test_a_timed_out_keepalive_connection_does_not_leak_its_worker(serve: Serve) -> None:
    """One slot: after an idle keep-alive connection times out, the next scrape is served."""
    running = serve(max_connections=1)
    connection = http.client.HTTPConnection(HOST, running.port, timeout=5)
    try:
        connection.request("GET", "/metrics")
        assert connection.getresponse().read()
        time.sleep(CLIENT_TIMEOUT + 0.3)  # the server drops the idle connection
    finally:
        connection.close()
    assert honest_status_soon(running.port) == 200


# --- hardening after review ---------------------------------------------------------------


def test_one_client_address_cannot_take_every_slot(serve: Serve) -> None:
    """Over its share, an address loses its own longest-waiting connection, not a
    newcomer's chance (before: the third connection got 503)."""
    running = serve(max_connections=8, per_client=2)
    idle = [connect(running.port) for _ in range(2)]  # both of 127.0.0.1's slots
    try:
        with connect(running.port) as third:
            assert seconds_to_close(idle[0], time.monotonic())[1] == b""
            third.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            third.settimeout(2)
            assert read_to_end(third).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in idle:
            sock.close()
    assert honest_status_soon(running.port) == 200


def test_an_oversized_request_is_dropped_unanswered(serve: Serve) -> None:
    running = serve()
    with connect(running.port) as bloated:
        bloated.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        header = b"X-Padding: " + b"a" * 1000 + b"\r\n"
        try:
            for _ in range(64):  # 64 kB of headers, far past MAX_REQUEST_BYTES
                bloated.sendall(header)
        except OSError:
            pass  # the server closed on us mid-send: that is the point
        bloated.settimeout(3)
        assert b"200 OK" not in read_to_end(bloated)
    assert get(running.port).status == 200  # and the worker is free again


def test_answers_name_the_config_unless_that_helps_guess_the_password(
    serve: Serve, auth: BasicAuth
) -> None:
    """Without basic auth every answer names agent.json's sha256 (push tells the new agent
    from the old). With it, agent.json holds the password's hash: its sha256 on a 401 let a
    password be guessed offline, so only authenticated answers carry it (more cases, and
    how push proves its way to it, in test_exporter_hostile.py)."""
    digest = hashlib.sha256(b"agent.json").hexdigest()
    plain = serve(config_sha256=digest)
    assert get(plain.port).headers["Meshkeeper-Config-Sha256"] == digest
    assert get(plain.port, "/nowhere").headers["Meshkeeper-Config-Sha256"] == digest
    locked = serve(basic_auth=auth, config_sha256=digest)
    refused = get(locked.port)
    assert refused.status == 401
    assert refused.headers["Meshkeeper-Config-Sha256"] is None
    assert refused.headers["Meshkeeper-Config"] == "hidden"
    admitted = get(locked.port, headers=basic(USER, PASSWORD))
    assert admitted.status == 200
    assert admitted.headers["Meshkeeper-Config-Sha256"] == digest


@pytest.mark.parametrize("version", ["1.0.0-x", "0.0.1", "2.0.0", "garbage"])
def test_any_accept_header_gets_one_of_two_cached_bodies(serve: Serve, version: str) -> None:
    running = serve()
    accept = f"application/openmetrics-text; version={version}"
    answer = get(running.port, headers={"Accept": accept})
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/openmetrics-text")
    for n in range(20):  # clients cannot grow the cache with made-up versions
        get(running.port, headers={"Accept": f"application/openmetrics-text; version=9.{n}"})
        get(running.port, headers={"Accept": f"text/plain; version=0.{n}"})
    assert len(running.state._cache) <= 2


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password the exporter runs PBKDF2 on, in order."""
    seen: list[str] = []
    real = agent_auth.verify_password

    def counting(password: str, hashed: str) -> bool:
        seen.append(password)
        return real(password, hashed)

    monkeypatch.setattr(agent_auth, "verify_password", counting)
    return seen


def test_wrong_passwords_are_rate_limited(
    serve: Serve, auth: BasicAuth, derivations: list[str]
) -> None:
    running = serve(basic_auth=auth)
    for n in range(12):
        assert get(running.port, headers=basic(auth.username, f"guess-{n}")).status == 401
    # a burst of 12 wrong guesses costs at most the bucket (2) plus what refilled meanwhile
    assert len(derivations) < 8
    time.sleep(1.0)
    assert get(running.port, headers=basic(auth.username, PASSWORD)).status == 200


def test_a_flooding_client_does_not_lock_out_the_scraper(
    serve: Serve, auth: BasicAuth, derivations: list[str]
) -> None:
    """Budgets are per client address: 127.0.0.1 floods, 127.0.0.2 (Prometheus) gets in."""
    running = serve(basic_auth=auth)
    for n in range(20):
        get(running.port, headers=basic(auth.username, f"guess-{n}"))
    scraper = http.client.HTTPConnection(
        HOST, running.port, timeout=5, source_address=("127.0.0.2", 0)
    )
    try:
        scraper.request("GET", "/metrics", headers=basic(auth.username, PASSWORD))
        assert scraper.getresponse().status == 200
    finally:
        scraper.close()
    assert derivations[-1] == PASSWORD


def test_a_wrong_username_costs_a_derivation_too(
    serve: Serve, auth: BasicAuth, derivations: list[str]
) -> None:
    running = serve(basic_auth=auth)
    assert get(running.port, headers=basic("mallory", "anything")).status == 401
    assert derivations == ["anything"]  # no faster path that tells a username is wrong
