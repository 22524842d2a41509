"""ICMP echo to a set of addresses at once, with the stdlib only (no scapy, no `ping`).

One raw socket per address family (the agent runs as root on a router), or
the kernel's unprivileged ping sockets where raw ones are refused. IPv6
link-local targets carry their interface, so a probe to a neighbour's
fe80:: address crosses exactly that link and can never be routed around it.
"""

from __future__ import annotations

import secrets
import select
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
PROTO: dict[int, int] = {
    socket.AF_INET: socket.IPPROTO_ICMP,
    socket.AF_INET6: socket.IPPROTO_ICMPV6,
}


@dataclass(frozen=True)
class EchoTarget:
    address: str
    interface: str | None = None  # for link-local IPv6: the link to cross

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.address else socket.AF_INET


@dataclass
class EchoResult:
    sent: int = 0
    rtts: list[float] = field(default_factory=list)

    @property
    def received(self) -> int:
        return len(self.rtts)

    @property
    def loss_ratio(self) -> float:
        return 1.0 - self.received / self.sent if self.sent else 1.0


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def echo_request(family: int, ident: int, seq: int) -> bytes:
    payload = b"meshkeeper"
    header = struct.pack("!BBHHH", ECHO_REQUEST[family], 0, 0, ident, seq)
    if family == socket.AF_INET6:  # the kernel fills in the ICMPv6 checksum
        return header + payload
    return (
        struct.pack("!BBHHH", ECHO_REQUEST[family], 0, checksum(header + payload), ident, seq)
        + payload
    )


def parse_reply(family: int, packet: bytes, raw: bool) -> tuple[int, int] | None:
    """(identifier, sequence) of an echo reply, or None for any other ICMP message."""
    if family == socket.AF_INET and raw:  # raw IPv4 sockets deliver the IP header too
        packet = packet[(packet[0] & 0x0F) * 4 :] if packet else b""
    if len(packet) < 8:
        return None
    kind, _code, _sum, ident, seq = struct.unpack_from("!BBHHH", packet)
    return (ident, seq) if kind == ECHO_REPLY[family] else None


def _open(family: int, device: str | None = None) -> tuple[socket.socket, bool]:
    try:
        sock, raw = socket.socket(family, socket.SOCK_RAW, PROTO[family]), True
    except PermissionError:  # not root: the kernel's ping sockets (net.ipv4.ping_group_range)
        sock, raw = socket.socket(family, socket.SOCK_DGRAM, PROTO[family]), False
    if device:  # out through this device only (a gateway's uplink), whatever the routes say
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode() + b"\0")
        except OSError:
            sock.close()
            raise
    return sock, raw


def _destination(target: EchoTarget) -> tuple[str, int] | tuple[str, int, int, int]:
    if target.family == socket.AF_INET:
        return (target.address, 0)
    scope = socket.if_nametoindex(target.interface) if target.interface else 0
    return (target.address, 0, 0, scope)


def ping(
    targets: Iterable[EchoTarget],
    count: int = 3,
    spacing: float = 0.2,
    wait: float = 1.0,
    device: str | None = None,
) -> dict[EchoTarget, EchoResult]:
    """Send `count` echoes to every target, `spacing` apart; collect replies until `wait`
    after the last one. A target whose interface is gone gets nothing sent (loss 1).
    With `device`, every echo leaves through that device (SO_BINDTODEVICE)."""
    wanted = list(dict.fromkeys(targets))
    if not wanted:
        return {}
    results = {t: EchoResult() for t in wanted}
    sockets: dict[int, tuple[socket.socket, bool]] = {}
    try:
        for family in sorted({t.family for t in wanted}):
            sockets[family] = _open(family, device)
    except OSError:
        for sock, _raw in sockets.values():
            sock.close()
        raise
    # random per call: raw sockets see every echo reply on the node, other rounds' too
    ident = secrets.randbits(16)
    sent_at: dict[tuple[int, str, int], tuple[EchoTarget, float]] = {}
    try:
        for seq in range(1, count + 1):
            for number, target in enumerate(wanted):
                sock = sockets[target.family][0]
                key_seq = (seq << 8 | number) & 0xFFFF
                try:
                    sock.sendto(echo_request(target.family, ident, key_seq), _destination(target))
                except OSError:
                    continue  # unreachable right now: counts as sent and lost
                finally:
                    results[target].sent += 1
                sent_at[(target.family, _plain(target.address), key_seq)] = (
                    target,
                    time.monotonic(),
                )
            last = seq == count
            _receive(
                sockets,
                sent_at,
                results,
                ident,
                time.monotonic() + (wait if last else spacing),
                done_early=last,
            )
    finally:
        for sock, _raw in sockets.values():
            sock.close()
    return results


def _plain(address: str) -> str:
    return address.split("%", 1)[0]


def _receive(
    sockets: dict[int, tuple[socket.socket, bool]],
    sent_at: dict[tuple[int, str, int], tuple[EchoTarget, float]],
    results: dict[EchoTarget, EchoResult],
    ident: int,
    until: float,
    done_early: bool = False,
) -> None:
    """Replies until `until`; with `done_early`, also stop once every echo is answered."""
    by_fd = {sock.fileno(): (family, sock, raw) for family, (sock, raw) in sockets.items()}
    while (left := until - time.monotonic()) > 0 and not (done_early and not sent_at):
        ready, _, _ = select.select(list(by_fd), [], [], left)
        for fd in ready:
            family, sock, raw = by_fd[fd]
            try:
                packet, source = sock.recvfrom(2048)
            except OSError:  # e.g. an ICMP error queued on the socket: not a reply
                continue
            reply = parse_reply(family, packet, raw)
            if reply is None or (raw and reply[0] != ident):  # ping sockets rewrite the id
                continue
            hit = sent_at.pop((family, _plain(source[0]), reply[1]), None)
            if hit is not None:
                results[hit[0]].rtts.append(time.monotonic() - hit[1])
