"""`trace`: where the path to a target dies, hop by hop, as tracepath does it.

UDP datagrams with TTL 1..MAX_HOPS go out at once, each on its own socket
with IP_RECVERR: the kernel queues the ICMP error that comes back (time
exceeded from a router on the way, port unreachable from the target itself)
on that socket's error queue, with the address of whoever sent it. No raw
socket, no scapy, no root: the steady agent can run it, on demand only, when
a round already found something wrong (agent/detector.py ON_DEMAND).

ok when the target itself answered. Otherwise `evidence` and
`detail["last_hop"]` say the last router that answered and at which TTL: "the
path dies after the ISP's second router" is what a responder can act on.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import time
from dataclasses import dataclass

from agent.probes.base import Request, Result, bind, remaining, result

MAX_HOPS = 12
BASE_PORT = 33434  # traceroute's: nothing should listen there
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
MSG_ERRQUEUE = 0x2000
SO_EE_ORIGIN_ICMP = 2
ICMP_TIME_EXCEEDED, ICMP_DEST_UNREACH = 11, 3
ICMP_PORT_UNREACH = 3
PAYLOAD = b"meshkeeper-trace"
_EXTENDED_ERR = struct.Struct("=IBBBBII")  # struct sock_extended_err


@dataclass(frozen=True)
class IcmpError:
    origin: int
    type: int
    code: int
    offender: str | None  # who sent the ICMP error


def parse_error(data: bytes) -> IcmpError | None:
    """An IP_RECVERR control message: sock_extended_err, then the offender's sockaddr_in."""
    if len(data) < _EXTENDED_ERR.size:
        return None
    _errno, origin, kind, code, _pad, _info, _data = _EXTENDED_ERR.unpack_from(data)
    offender = None
    rest = data[_EXTENDED_ERR.size :]
    if len(rest) >= 8 and struct.unpack_from("=H", rest)[0] == socket.AF_INET:
        offender = str(ipaddress.IPv4Address(rest[4:8]))
    return IcmpError(origin, kind, code, offender)


def probe(request: Request) -> Result:
    started = time.monotonic()
    address = request.target.address
    if address is None or ":" in address:
        return result(request, started, ok=False, failure="unknown_failure", evidence="no IPv4")
    sockets: dict[int, tuple[int, socket.socket]] = {}
    hops: dict[int, IcmpError] = {}
    try:
        for ttl in range(1, MAX_HOPS + 1):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets[sock.fileno()] = (ttl, sock)
            bind(sock, request.path)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            try:
                sock.sendto(PAYLOAD, (address, BASE_PORT + ttl))
            except OSError:
                continue  # no route: that hop stays silent
        _collect(sockets, hops, started, request.timeout)
    except OSError as exc:
        return result(request, started, ok=False, failure="unknown_failure", evidence=str(exc))
    finally:
        for _, sock in sockets.values():
            sock.close()
    return _judge(request, started, address, hops)


def _collect(
    sockets: dict[int, tuple[int, socket.socket]],
    hops: dict[int, IcmpError],
    started: float,
    timeout: float,
) -> None:
    poller = select.poll()
    for fd in sockets:
        poller.register(fd, select.POLLERR | select.POLLIN)
    while len(hops) < len(sockets) and remaining(started, timeout) > 0.002:
        reached = _reached_at(hops)
        if reached is not None and all(t in hops for t in range(1, reached)):
            return  # the target answered, and every hop before it
        for fd, _ in poller.poll(remaining(started, timeout) * 1000):
            ttl, sock = sockets[fd]
            try:
                _, ancillary, _, _ = sock.recvmsg(512, 512, MSG_ERRQUEUE)
            except OSError:
                poller.unregister(fd)
                continue
            for level, kind, data in ancillary:
                error = (
                    parse_error(data) if (level, kind) == (socket.IPPROTO_IP, IP_RECVERR) else None
                )
                if error is not None and error.origin == SO_EE_ORIGIN_ICMP:
                    hops[ttl] = error
            poller.unregister(fd)


def _reached_at(hops: dict[int, IcmpError]) -> int | None:
    done = [t for t, e in hops.items() if e.type == ICMP_DEST_UNREACH]
    return min(done) if done else None


def _judge(request: Request, started: float, address: str, hops: dict[int, IcmpError]) -> Result:
    reached = _reached_at(hops)
    last = reached or MAX_HOPS
    path = ",".join(
        (hops[t].offender or "?") if t in hops else "*" for t in range(1, last + 1)
    ).rstrip(",*")
    answered = [t for t in hops if t <= last]
    detail = {"hops": path}
    sent = MAX_HOPS * (28 + len(PAYLOAD))
    received = len(hops) * 56
    target_said = reached is not None and hops[reached].offender == address
    if reached is not None and target_said and hops[reached].code == ICMP_PORT_UNREACH:
        detail["hop_count"] = str(reached)
        return result(
            request,
            started,
            ok=True,
            evidence=f"{address} reached in {reached} hops",
            detail=detail,
            sent=sent,
            received=received,
        )
    if not answered:
        return result(
            request,
            started,
            ok=False,
            failure="generic_timeout_error",
            evidence="no hop answered",
            detail=detail,
            sent=sent,
        )
    ttl = max(answered)
    hop = hops[ttl]
    detail["last_hop"] = hop.offender or "?"
    detail["died_after"] = str(ttl)
    failure = "host_unreachable" if hop.type == ICMP_DEST_UNREACH else "generic_timeout_error"
    return result(
        request,
        started,
        ok=False,
        failure=failure,
        evidence=f"the path dies after hop {ttl} ({hop.offender or '?'})",
        detail=detail,
        sent=sent,
        received=received,
    )
