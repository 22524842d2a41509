"""The throughput probe against the lab's bulk downloads and raw servers that pace their bytes.

Everything listens on 127.0.0.0/8, high ports. The lab web server's
`/bytes/N` gives full-speed downloads; raw servers here drip at a steady
rate (a policer's shape: low cv) or in bursts (congestion's: high cv).
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from agent.config import Target
from agent.probes import base, throughput
from agent.probes import http as http_probe
from agent.probes.base import Request, Settings
from lab.services import config
from lab.services.serve import Services
from tests.unit.agent.test_probe_http import LOOPBACK, free_port, raw, read_request, reset, silent

__all__ = ["raw"]  # a fixture, used by name


def lab_bulk(services: Services) -> int:
    port = free_port()
    entry = {
        "listen": LOOPBACK,
        "port": port,
        "sites": {"www.example.test": "www", "chat.test": "chat"},
        "block": {"chat.test": "blockpage"},
        "bulk_max_bytes": 1 << 20,
    }
    services.start(config.parse({"http": [entry]}))
    return port


def ask(
    port: int | None,
    download: str | None = "/bytes/65536",
    *,
    host: str = "www.example.test",
    limit: int = 65_536,
    timeout: float = 3.0,
) -> base.Result:
    where = Target("international", "mirror", ("throughput",), LOOPBACK, host, port, None, download)
    settings = Settings(download_bytes=limit)
    return throughput.probe(Request("throughput", where, base.Path("wan"), timeout, settings))


def paced(size: int, pauses: list[float], length: int = 1_000_000) -> Any:
    """A server that sends `size` bytes, then waits the next pause, again and again."""

    def serve(conn: socket.socket, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode())
        for pause in pauses * 1000:
            conn.sendall(b"x" * size)
            if stopping.wait(pause):
                return

    return serve


# --- against the lab's bulk downloads --------------------------------------------------------


def test_a_whole_download_is_timed(services: Services) -> None:
    got = ask(lab_bulk(services), "/bytes/65536")
    assert (got.ok, got.failure, got.kind) == (True, "", "throughput")
    assert (got.detail["bytes"], got.detail["complete"], got.detail["status"]) == (
        "65536",
        "yes",
        "200",
    )
    assert got.value is not None and got.value > 1_000_000  # loopback
    assert float(got.detail["seconds"]) > 0 and "cv" in got.detail
    assert got.received > 65_536 and got.sent > 100


def test_a_download_stops_after_download_bytes(services: Services) -> None:
    got = ask(lab_bulk(services), "/bytes/500000", limit=20_000)
    assert (got.ok, got.detail["bytes"], got.detail["complete"]) == (True, "20000", "yes")
    assert got.received < 100_000  # stopped and closed, not read to the end


def test_port_80_unless_the_target_sets_another(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_probe, "HTTP_PORT", lab_bulk(services))
    assert ask(None).ok
    assert ask(443).ok


def test_a_block_page_or_an_error_status_is_no_measurement(services: Services) -> None:
    port = lab_bulk(services)
    got = ask(port, host="chat.test")
    assert (got.ok, got.failure, got.value) == (False, "http_blockpage", None)
    got = ask(port, "/bytes/9999999")  # over bulk_max_bytes: 400
    assert (got.ok, got.failure, got.detail["status"]) == (False, "http_unexpected_status", "400")


def test_no_download_path_fails_without_touching_the_network() -> None:
    got = ask(free_port(), None)
    assert (got.ok, got.failure, got.evidence, got.sent) == (
        False,
        "unknown_failure",
        "no download path",
        0,
    )


# --- paced and hostile servers -------------------------------------------------------------


def test_a_slow_steady_drip_is_a_low_flat_rate_within_the_deadline(raw: Any) -> None:
    got = ask(raw(paced(1024, [0.05])).port, timeout=1.0)
    assert (got.ok, got.failure, got.detail["complete"]) == (True, "", "no")
    assert got.value is not None and 5_000 < got.value < 60_000  # about 20 kB/s
    assert 1.0 <= got.duration < 1.3
    assert float(got.detail["cv"]) < 0.5  # flat: a policer's shape
    assert "timed out" in got.evidence or "budget" in got.evidence


def test_bursts_vary_more_than_a_steady_drip(raw: Any) -> None:
    got = ask(raw(paced(4096, [0.01, 0.15])).port, timeout=1.2)
    assert got.ok and float(got.detail["cv"]) > 0.5  # congestion's shape


def test_a_reset_mid_download_fails_but_keeps_its_rate(raw: Any) -> None:
    def cut(conn: socket.socket, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 8192)
        stopping.wait(0.1)
        reset(conn)

    got = ask(raw(cut).port)
    assert (got.ok, got.failure, got.detail["bytes"]) == (False, "connection_reset", "8192")
    assert got.value is not None and got.detail["complete"] == "no"


def test_a_silent_server_is_a_timeout_with_no_rate(raw: Any) -> None:
    got = ask(raw(silent).port, timeout=0.5)
    assert (got.ok, got.failure, got.value) == (False, "generic_timeout_error", None)
    assert got.duration < 0.8


def test_an_empty_body_is_no_measurement(raw: Any) -> None:
    def empty(conn: socket.socket, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    got = ask(raw(empty).port)
    assert (got.ok, got.failure, got.detail["bytes"]) == (False, "http_unexpected_body", "0")


def test_a_close_ends_a_download_without_a_length(raw: Any) -> None:
    def to_close(conn: socket.socket, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 30_000)

    got = ask(raw(to_close).port)
    assert (got.ok, got.detail["bytes"], got.detail["complete"]) == (True, "30000", "yes")


# --- the variation, pure ------------------------------------------------------------------


def test_variation_of_per_chunk_rates() -> None:
    steady = [(0.1 * i, 4096) for i in range(10)]
    assert throughput.variation(steady) == pytest.approx(0.0, abs=1e-9)
    bursty = [(t, 4096) for t in (0.0, 0.01, 0.31, 0.32, 0.62, 0.63)]
    assert throughput.variation(bursty) == pytest.approx(0.772, abs=0.001)
    # bytes that arrive at one instant join the next chunk's; one chunk has no variation
    assert throughput.variation([(0.0, 100), (0.0, 8192), (0.5, 4096)]) is None
    assert throughput.variation([]) is None
    assert throughput.variation([(1.0, 1)] + [(1.0 + i, 1024) for i in range(1, 9)]) == 0.0
