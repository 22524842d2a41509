"""`tcp`: a TCP connect to the target's address and port (443 when none is set).

ok when the handshake completes. A reset answering the SYN is
`connection_refused`; silence is `generic_timeout_error`; no route is
`network_unreachable` / `host_unreachable` (OONI's strings).
"""

from __future__ import annotations

import time

from agent.probes.base import Request, Result, connect, failure_of, result

DEFAULT_PORT = 443
HANDSHAKE_BYTES = 3 * 60  # SYN, SYN-ACK, ACK and the FIN exchange, roughly


def probe(request: Request) -> Result:
    started = time.monotonic()
    target = request.target
    if target.address is None:
        return result(request, started, ok=False, failure="unknown_failure", evidence="no address")
    port = target.port or DEFAULT_PORT
    try:
        connect(target.address, port, request.path, request.timeout).close()
    except OSError as exc:
        return result(
            request,
            started,
            ok=False,
            failure=failure_of(exc),
            evidence=f"connect to {target.address}:{port}: {exc.strerror or type(exc).__name__}",
            sent=60,
        )
    return result(
        request,
        started,
        ok=True,
        evidence=f"connected to {target.address}:{port}",
        sent=HANDSHAKE_BYTES // 2,
        received=HANDSHAKE_BYTES // 2,
    )
