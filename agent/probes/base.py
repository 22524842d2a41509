"""What every probe is: one kind, one target, one path out, one Result.

A probe is a function `(Request) -> Result` registered by kind in
agent/probes/__init__.py's PROBERS (blackbox_exporter's prober map). It never
raises for anything the network does: a refused, reset or silent target is a
Result with `ok=False` and an OONI failure string (agent/contract.py FAILURES).
It measures; it does not judge. Whether a failure is censorship is the
verdict's question (agent/verdict.py), asked against controls and baselines.

Every probe keeps to `Request.timeout` (the round's wall time is bounded by
it) and, on a gateway, leaves through its uplink's device (SO_BINDTODEVICE),
so one ISP's failure is seen apart from the other's.
"""

from __future__ import annotations

import errno
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from agent.config import Target
from agent.contract import FAILURES
from agent.request import printable  # the agent's one escaper for text that reaches a log

Failure = str  # one of agent.contract.FAILURES
EVIDENCE_LIMIT = 160  # characters of evidence a result keeps
__all__ = ["Failure", "Path", "Prober", "Request", "Result", "Settings", "Target", "printable"]


@dataclass(frozen=True)
class Path:
    """Where probes leave the router: an uplink (bound to its device) or the mesh."""

    uplink: str  # the uplink's logical interface (wan, wan2) or agent.contract.MESH_PATH
    device: str | None = None  # bound with SO_BINDTODEVICE; None: the routing table decides
    isp: str | None = None


@dataclass(frozen=True)
class Settings:
    """Round-wide settings from agent.json's `probes`."""

    ca_file: str | None = None  # None: the system's trust store
    control_host: str | None = None  # a neutral name: DNS control, control SNI
    resolvers: tuple[Target, ...] = ()  # DNS targets a name is resolved at, on this path
    expected: Mapping[str, str] = field(default_factory=dict)  # host -> inventory address
    download_bytes: int = 65_536  # a throughput probe stops after this many bytes


@dataclass(frozen=True)
class Request:
    kind: str
    target: Target
    path: Path
    timeout: float = 1.5
    settings: Settings = field(default_factory=Settings)


@dataclass(frozen=True)
class Result:
    tier: str
    target: str
    kind: str
    uplink: str
    ok: bool
    duration: float
    failure: Failure = ""  # empty when ok
    timestamp: float = 0.0  # unix time the probe started
    value: float | None = None  # icmp: rtt seconds; throughput: bytes per second
    evidence: str = ""  # what was seen, printable and short ("answered 198.18.66.6")
    detail: Mapping[str, str] = field(default_factory=dict)  # kind-specific facts
    sent: int = 0  # bytes on the wire, both ways, estimated: the traffic budget
    received: int = 0

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.tier, self.target, self.kind, self.uplink)


Prober = Callable[[Request], Result]


def result(
    request: Request,
    started: float,
    *,
    ok: bool,
    failure: Failure = "",
    value: float | None = None,
    evidence: str = "",
    detail: Mapping[str, str] | None = None,
    sent: int = 0,
    received: int = 0,
) -> Result:
    """A Result for `request`, timed from `started` (time.monotonic())."""
    if failure and failure not in FAILURES:
        failure = "unknown_failure"
    now = time.monotonic()
    return Result(
        tier=request.target.tier,
        target=request.target.name,
        kind=request.kind,
        uplink=request.path.uplink,
        ok=ok,
        duration=now - started,
        failure="" if ok else (failure or "unknown_failure"),
        timestamp=time.time() - (now - started),
        value=value,
        evidence=printable(evidence, EVIDENCE_LIMIT),
        detail=dict(detail or {}),
        sent=sent,
        received=received,
    )


def failure_of(exc: BaseException) -> Failure:
    """The OONI failure string for a socket or TLS error."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == 62 or "hostname" in str(
            exc.verify_message
        ):  # X509_V_ERR_HOSTNAME_MISMATCH
            return "ssl_invalid_hostname"
        return "ssl_unknown_authority"
    if isinstance(exc, ssl.SSLEOFError):
        return "eof_error"
    if isinstance(exc, ssl.SSLError):
        return "ssl_failed_handshake"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "generic_timeout_error"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, ConnectionResetError):
        return "connection_reset"
    if isinstance(exc, (BrokenPipeError, ConnectionAbortedError)):
        return "eof_error"
    if isinstance(exc, OSError):
        return {
            errno.ENETUNREACH: "network_unreachable",
            errno.EHOSTUNREACH: "host_unreachable",
            errno.ETIMEDOUT: "generic_timeout_error",
            errno.ECONNREFUSED: "connection_refused",
            errno.ECONNRESET: "connection_reset",
        }.get(exc.errno or 0, "unknown_failure")
    return "unknown_failure"


def bind(sock: socket.socket, path: Path) -> None:
    """Leave through the path's device, whatever the routing table prefers."""
    if path.device:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, path.device.encode() + b"\0")


def connect(address: str, port: int, path: Path, timeout: float) -> socket.socket:
    """A TCP connection to address:port through `path`, within `timeout` seconds."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        bind(sock, path)
        sock.settimeout(timeout)
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def tls_context(settings: Settings, *, verify: bool = True) -> ssl.SSLContext:
    context = (
        ssl.create_default_context(cafile=settings.ca_file)
        if verify
        else (ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    )
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def remaining(started: float, timeout: float) -> float:
    """What is left of a probe's time budget (never below a millisecond)."""
    return max(timeout - (time.monotonic() - started), 0.001)
