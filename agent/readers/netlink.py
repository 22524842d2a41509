"""A minimal rtnetlink link dump (RTM_GETLINK), with the stdlib only.

pyroute2 decodes the same messages, but importing it costs a router ~10 MiB
of RSS (../shared/FIELD-NOTES.md: interpreter ~9 MB, + prometheus_client ~23,
+ pyroute2 ~37): more than the whole budget for the steady-state agent. The
link dump needs four attributes, so the agent reads them itself; the tests
check this parser against pyroute2's decoding of the same recorded bytes.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

NETLINK_ROUTE = 0
RTM_NEWLINK = 16
RTM_GETLINK = 18
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
IFF_UP = 0x1
IFF_LOWER_UP = 0x10000

IFLA_IFNAME = 3
IFLA_STATS = 7
IFLA_STATS64 = 23
IFLA_OPERSTATE = 16
IFLA_CARRIER = 33
IFLA_CARRIER_CHANGES = 35

# RFC 2863 operational states, as the kernel numbers them (IF_OPER_*)
OPERSTATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")
STAT_FIELDS = (
    "rx_packets",
    "tx_packets",
    "rx_bytes",
    "tx_bytes",
    "rx_errors",
    "tx_errors",
    "rx_dropped",
    "tx_dropped",
)

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_RTATTR = struct.Struct("=HH")


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    flags: int
    operstate: str
    carrier: bool | None = None
    carrier_changes: int | None = None
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        """Operationally up; drivers that report `unknown` count by their carrier flag."""
        if self.operstate == "unknown":
            return bool(self.flags & IFF_UP and self.flags & IFF_LOWER_UP)
        return self.operstate == "up"


def _align(length: int) -> int:
    return (length + 3) & ~3


def attributes(data: bytes) -> dict[int, bytes]:
    """rtattr TLVs → {type: payload} (nested/flagged bits masked off)."""
    attrs: dict[int, bytes] = {}
    offset = 0
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size:
            break
        attrs[kind & 0x3FFF] = data[offset + _RTATTR.size : offset + length]
        offset += _align(length)
    return attrs


def messages(data: bytes) -> list[tuple[int, bytes]]:
    """A netlink stream → [(message type, payload)]."""
    out = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            break
        out.append((kind, data[offset + _NLMSGHDR.size : offset + length]))
        offset += _align(length)
    return out


def parse_link(payload: bytes) -> Link:
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(payload)
    attrs = attributes(payload[_IFINFOMSG.size :])
    state = attrs.get(IFLA_OPERSTATE, b"\0")[0]
    carrier = attrs.get(IFLA_CARRIER)
    changes = attrs.get(IFLA_CARRIER_CHANGES)
    return Link(
        index=index,
        name=attrs.get(IFLA_IFNAME, b"").split(b"\0", 1)[0].decode("utf-8", "replace"),
        flags=flags,
        operstate=OPERSTATES[state] if state < len(OPERSTATES) else "unknown",
        carrier=None if carrier is None else bool(carrier[0]),
        carrier_changes=None if changes is None else struct.unpack_from("=I", changes)[0],
        stats=_stats(attrs),
    )


def _stats(attrs: dict[int, bytes]) -> dict[str, int]:
    if IFLA_STATS64 in attrs:
        values = struct.unpack_from(f"={len(STAT_FIELDS)}Q", attrs[IFLA_STATS64])
    elif IFLA_STATS in attrs:  # 32-bit counters, from kernels without STATS64
        values = struct.unpack_from(f"={len(STAT_FIELDS)}I", attrs[IFLA_STATS])
    else:
        return {}
    return dict(zip(STAT_FIELDS, values, strict=True))


def parse_links(data: bytes) -> list[Link]:
    """A recorded RTM_GETLINK dump → its links; raises ValueError on a netlink error."""
    links = []
    for kind, payload in messages(data):
        if kind == NLMSG_ERROR:
            errno = -struct.unpack_from("=i", payload)[0]
            if errno:
                raise ValueError(f"rtnetlink refused the link dump: errno {errno}")
        elif kind == RTM_NEWLINK:
            links.append(parse_link(payload))
    return links


def dump_links(timeout: float = 2.0) -> bytes:
    """Ask the kernel for every link of this network namespace; the raw answer."""
    request = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    header = _NLMSGHDR.pack(
        _NLMSGHDR.size + len(request), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0
    )
    chunks = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as sock:
        sock.settimeout(timeout)
        sock.sendall(header + request)
        while True:
            chunk = sock.recv(65536)
            chunks.append(chunk)
            if any(kind in (NLMSG_DONE, NLMSG_ERROR) for kind, _ in messages(chunk)):
                return b"".join(chunks)
