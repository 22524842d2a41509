"""controller.noc.api.get_json: one bounded JSON GET to the NOC's services, whatever
answers there (a server that drips its headers, a URL an operator mistyped)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from controller.cli import cli
from controller.noc.api import NocUnreachable, get_json


@pytest.fixture
def dripping() -> Iterator[int]:
    """A server that sends one header byte a second, for ever (its port)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.5):
                try:
                    conn.sendall(b"X")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        server.close()
        thread.join(5)


def test_a_server_dripping_its_headers_is_cut_at_the_deadline(dripping: int) -> None:
    started = time.monotonic()
    with pytest.raises(NocUnreachable, match="did not answer within 1 s"):
        get_json(f"http://127.0.0.1:{dripping}", "/api/v2/alerts", timeout=1.0)
    assert time.monotonic() - started < 3  # the socket timeout alone would never end it


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:abc", "http://127.0.0.1:99999", "http://[::1", "ftp://127.0.0.1:1", "noc"],
)
def test_a_mistyped_url_is_one_clear_error(url: str) -> None:
    with pytest.raises(NocUnreachable, match="URL"):
        get_json(url, "/api/v1/alerts", timeout=1.0)


def test_the_cli_says_it_in_one_line_and_exits_4(example_copy: object) -> None:
    result = CliRunner().invoke(
        cli,
        ["alerts", "-i", str(example_copy), "--alertmanager", "http://127.0.0.1:abc",
         "--prometheus", "http://127.0.0.1:99999"],
    )  # fmt: skip
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
