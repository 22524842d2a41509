"""`tls`: a verified TLS handshake with the target's name as SNI, and a control.

A censor that filters by SNI reads the ClientHello and resets (or drops) the
connection: the TCP connect succeeds, the handshake does not. So this probe
connects to the target's address (port 443 unless set), shakes hands with
SNI = target.host, verifies the certificate against `settings.ca_file` (or
the system's store) and checks the name. ok when that handshake verifies.

When it fails and `settings.control_host` is set, a second handshake goes to
the SAME address with the control name as SNI and no verification: the
in-test control. Target SNI failing while the control succeeds on one IP is
SNI-based blocking; both failing is the address (or the path) that is dead.
The control only gets what the budget has left: after a timeout that is
nothing, and `detail` then has no `control_sni` (not tried, not failed).

The handshake runs over memory BIOs instead of `wrap_socket`, so every read
waits only for what is left of the deadline (a server dripping a byte a
second cannot stretch it) and the bytes on the wire are counted exactly.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass

from agent.probes.base import Request, Result, connect, failure_of, result, tls_context

DEFAULT_PORT = 443
CONNECT_BYTES = 3 * 60  # SYN, SYN-ACK, ACK and the FIN exchange, roughly
RECV_BYTES = 16 * 1024 + 64  # one TLS record
CONTROL_MIN_SECONDS = 0.1  # less than this left: no control (it could only time out)


@dataclass
class Handshake:
    """One handshake's outcome and its bytes on the wire."""

    failure: str = ""  # empty: it completed (and verified, when verifying)
    why: str = ""
    version: str = ""
    sent: int = 0
    received: int = 0


def probe(request: Request) -> Result:
    started = time.monotonic()
    target, settings = request.target, request.settings
    address = target.address
    if address is None:
        return result(request, started, ok=False, failure="unknown_failure", evidence="no address")
    deadline = started + request.timeout
    name = target.host or address
    try:
        verified = tls_context(settings)
    except OSError as exc:  # the CA file is unreadable or not PEM: the config, not the network
        why = f"cannot load {settings.ca_file}: {_why(exc)}"
        return result(request, started, ok=False, failure="unknown_failure", evidence=why)
    shake = handshake(request, address, name, verified, deadline)
    detail: dict[str, str] = {}
    sent, received = shake.sent, shake.received
    if not shake.failure:
        detail["version"] = shake.version
        evidence = f"{shake.version} with {name} verified"
    else:
        evidence = f"handshake with {name}: {shake.why}"
        control = settings.control_host
        if control and deadline - time.monotonic() >= CONTROL_MIN_SECONDS:
            unverified = tls_context(settings, verify=False)
            check = handshake(request, address, control, unverified, deadline)
            detail["control_sni"] = check.failure or "ok"
            evidence += f"; control SNI {control}: {check.failure or 'ok'}"
            sent, received = sent + check.sent, received + check.received
    return result(
        request,
        started,
        ok=not shake.failure,
        failure=shake.failure,
        evidence=evidence,
        detail=detail,
        sent=sent,
        received=received,
    )


def handshake(
    request: Request, address: str, name: str, context: ssl.SSLContext, deadline: float
) -> Handshake:
    """A TLS handshake with SNI `name` to `address`; never raises for the network."""
    port = request.target.port or DEFAULT_PORT
    shake = Handshake()
    sock: socket.socket | None = None
    try:
        sock = connect(address, port, request.path, _left(deadline))
        shake.sent, shake.received = CONNECT_BYTES // 2, CONNECT_BYTES // 2
        shake.version = _shake(sock, context, name, shake, deadline)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        shake.failure = failure_of(exc) if isinstance(exc, OSError) else "unknown_failure"
        shake.why = _why(exc)
        if not shake.sent:
            shake.sent = 60  # the SYN (and its retries) went out
    finally:
        if sock is not None:
            sock.close()
    return shake


def _shake(
    sock: socket.socket, context: ssl.SSLContext, name: str, shake: Handshake, deadline: float
) -> str:
    """The handshake over `sock`: our records out, the server's in, until done; its version."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=name)
    while True:
        try:
            tls.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        if pending := outgoing.read():
            sock.settimeout(_left(deadline))
            sock.sendall(pending)
            shake.sent += len(pending)
        if done:
            return tls.version() or ""
        sock.settimeout(_left(deadline))
        data = sock.recv(RECV_BYTES)
        shake.received += len(data)
        if data:
            incoming.write(data)
        else:
            incoming.write_eof()  # the next do_handshake raises SSLEOFError: eof_error


def _left(deadline: float) -> float:
    """Seconds left before `deadline`; TimeoutError once there are none."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the probe's time budget is spent")
    return left


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return str(exc.verify_message or exc.reason or exc)
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
