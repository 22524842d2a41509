"""The tls probe against the lab's HTTPS server (lab CA certificates) and hostile raw servers.

Everything listens on 127.0.0.0/8, high ports; the target's port is set, as
443 needs root. The lab server resets a blocked SNI before the handshake, as
a censor reading the ClientHello does: the control SNI on the same address
then tells SNI filtering from a dead address.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from agent.config import Target
from agent.probes import base, tls
from agent.probes.base import Request, Settings
from lab.services import config
from lab.services.ca import LabCA
from lab.services.serve import Services
from tests.unit.agent.test_probe_http import (
    LOOPBACK,
    NOWHERE,
    free_port,
    raw,
    reset,
    silent,
)

__all__ = ["raw"]  # a fixture, used by name

CONTROL = "control.test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    ca = LabCA(tmp_path_factory.mktemp("pki"))
    ca.issue("www", ["www.example.test", "127.0.0.1"])
    ca.issue("chat", ["chat.test", "*.chat.test"])
    return ca


def lab_tls(services: Services, pki: LabCA, **block: str) -> int:
    port = free_port()
    entry = {
        "listen": LOOPBACK,
        "port": port,
        "certificates": [
            {"names": ["www.example.test"], "cert": "www.crt", "key": "www.key"},
            {"names": ["chat.test", "*.chat.test"], "cert": "chat.crt", "key": "chat.key"},
        ],
        "sites": {"www.example.test": "www"},
        "block": block,
    }
    services.start(config.parse({"tls": [entry]}, base=pki.directory))
    return port


def ask(
    port: int,
    host: str | None = "www.example.test",
    *,
    ca_file: Path | str | None = None,
    control: str | None = None,
    timeout: float = 1.5,
    address: str = LOOPBACK,
) -> base.Result:
    settings = Settings(ca_file=str(ca_file) if ca_file else None, control_host=control)
    where = Target("platforms", "site", ("tls",), address, host, port)
    return tls.probe(Request("tls", where, base.Path("wan2", device=None), timeout, settings))


# --- against the lab's HTTPS server ------------------------------------------------------


def test_a_verified_handshake_is_ok_with_its_version(services: Services, pki: LabCA) -> None:
    port = lab_tls(services, pki)
    got = ask(port, ca_file=pki.ca_cert, control=CONTROL)
    assert (got.ok, got.failure, got.kind, got.uplink) == (True, "", "tls", "wan2")
    assert got.detail == {"version": "TLSv1.3"}  # no control when the target's SNI works
    assert "verified" in got.evidence
    assert got.sent > 200 and got.received > 500  # a ClientHello; a certificate chain
    assert ask(port, "media.chat.test", ca_file=pki.ca_cert).ok  # the wildcard's certificate


def test_an_address_as_the_name_is_checked_against_the_certificate(
    services: Services, pki: LabCA
) -> None:
    port = lab_tls(services, pki)
    assert ask(port, None, ca_file=pki.ca_cert).ok  # the default certificate has 127.0.0.1


def test_another_authority_is_ssl_unknown_authority(
    services: Services, pki: LabCA, tmp_path: Path
) -> None:
    port = lab_tls(services, pki)
    stranger = LabCA(tmp_path / "stranger").ensure()
    got = ask(port, ca_file=stranger, control=CONTROL)
    assert (got.ok, got.failure) == (False, "ssl_unknown_authority")
    assert got.detail == {"control_sni": "ok"}  # the address answers: not a dead server


def test_the_system_store_does_not_trust_the_lab(services: Services, pki: LabCA) -> None:
    assert ask(lab_tls(services, pki)).failure == "ssl_unknown_authority"


def test_a_name_not_in_the_certificate_is_ssl_invalid_hostname(
    services: Services, pki: LabCA
) -> None:
    port = lab_tls(services, pki)
    got = ask(port, "other.test", ca_file=pki.ca_cert)  # gets the default certificate
    assert (got.ok, got.failure, got.detail) == (False, "ssl_invalid_hostname", {})


def test_an_sni_reset_with_the_control_sni_ok_is_sni_filtering(
    services: Services, pki: LabCA
) -> None:
    port = lab_tls(services, pki, **{"chat.test": "reset"})
    got = ask(port, "media.chat.test", ca_file=pki.ca_cert, control=CONTROL)
    assert (got.ok, got.failure) == (False, "connection_reset")
    assert got.detail == {"control_sni": "ok"}
    assert "control SNI control.test: ok" in got.evidence
    assert ask(port, "www.example.test", ca_file=pki.ca_cert).ok


def test_a_missing_ca_file_fails_without_raising(pki: LabCA, tmp_path: Path) -> None:
    got = ask(free_port(), ca_file=tmp_path / "absent.crt")
    assert (got.ok, got.failure) == (False, "unknown_failure")
    assert "cannot load" in got.evidence


# --- no server, hostile servers ------------------------------------------------------------


def test_nothing_listening_is_connection_refused_and_so_is_the_control() -> None:
    got = ask(free_port(), control=CONTROL, address=NOWHERE)
    assert (got.ok, got.failure) == (False, "connection_refused")
    assert got.detail == {"control_sni": "connection_refused"}
    assert got.received == 0


def test_a_silent_server_times_out_within_the_budget(raw: Any) -> None:
    got = ask(raw(silent).port, control=CONTROL, timeout=0.5)
    assert (got.ok, got.failure) == (False, "generic_timeout_error")
    assert 0.5 <= got.duration < 0.8
    assert "control_sni" not in got.detail  # no budget left to try it


def test_a_close_after_the_hello_is_eof_error(raw: Any) -> None:
    def hang_up(conn: socket.socket, stopping: threading.Event) -> None:
        conn.recv(4096)

    assert ask(raw(hang_up).port).failure == "eof_error"


def test_a_reset_after_the_hello_is_connection_reset(raw: Any) -> None:
    def rst(conn: socket.socket, stopping: threading.Event) -> None:
        conn.recv(4096)
        reset(conn)

    got = ask(raw(rst).port, control=CONTROL)
    assert (got.ok, got.failure) == (False, "connection_reset")
    assert got.detail == {"control_sni": "connection_reset"}  # the address, not the name


def test_not_tls_is_ssl_failed_handshake(raw: Any) -> None:
    def http(conn: socket.socket, stopping: threading.Event) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        stopping.wait(10)

    assert ask(raw(http).port).failure == "ssl_failed_handshake"


def test_a_dripping_server_cannot_stretch_the_deadline(raw: Any) -> None:
    def drip(conn: socket.socket, stopping: threading.Event) -> None:
        conn.recv(4096)
        conn.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record of 16 KiB, announced
        while not stopping.wait(0.02):
            conn.sendall(b"\x00")

    got = ask(raw(drip).port, timeout=0.6)
    assert (got.ok, got.failure) == (False, "generic_timeout_error")
    assert 0.6 <= got.duration < 0.9


def test_an_unusable_name_is_unknown_failure(raw: Any) -> None:
    got = ask(raw(silent).port, ".bad..name")
    assert (got.ok, got.failure) == (False, "unknown_failure")
