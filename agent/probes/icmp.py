"""`icmp`: echo requests to the target's address; loss and round-trip time.

ok when at least one echo came back. `value` is the mean round-trip time;
`detail` has the loss ratio. Three echoes, a fifth of a second apart: enough
to tell a dead target from a lossy link within a round (at 15 % loss each
way, all three are lost in 1 % of rounds, two in 8 %), cheap on a thin uplink.
"""

from __future__ import annotations

import time

from agent.probes.base import Request, Result, remaining, result
from agent.readers.icmp import EchoTarget, ping

COUNT = 3  # three: a lossy mesh path loses all of them far less often than two
SPACING = 0.2
ECHO_BYTES = 2 * (20 + 8 + 10)  # IPv4 + ICMP headers + payload, out and back


def probe(request: Request) -> Result:
    started = time.monotonic()
    address = request.target.address
    if address is None:  # a first hop nobody knows: no lease, no default route
        return result(
            request, started, ok=False, failure="network_unreachable", evidence="no address known"
        )
    wait = max(remaining(started, request.timeout) - SPACING * (COUNT - 1), 0.05)
    try:
        echo = ping(
            [EchoTarget(address)],
            count=COUNT,
            spacing=SPACING,
            wait=wait,
            device=request.path.device,
        )[EchoTarget(address)]
    except OSError as exc:
        return result(request, started, ok=False, failure="unknown_failure", evidence=str(exc))
    sent, received = echo.sent * ECHO_BYTES // 2, echo.received * ECHO_BYTES // 2
    detail = {"loss_ratio": f"{echo.loss_ratio:.2f}"}
    if not echo.rtts:
        return result(
            request,
            started,
            ok=False,
            failure="generic_timeout_error",
            evidence=f"no echo reply to {echo.sent}",
            detail=detail,
            sent=sent,
            received=received,
        )
    rtt = sum(echo.rtts) / len(echo.rtts)
    return result(
        request,
        started,
        ok=True,
        value=rtt,
        evidence=f"{echo.received}/{echo.sent} replies, {rtt * 1000:.1f} ms",
        detail=detail,
        sent=sent,
        received=received,
    )
