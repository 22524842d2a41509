"""DNS messages for the dns probe (RFC 1035): build an A query, parse a reply. Pure.

A reply comes off the network, perhaps from a censor's injector, so parsing
trusts none of it: every length is checked against the bytes there are, a
compression pointer must point before every part of the name read so far (so
no loop, however crafted), a name is at most 255 bytes. Anything malformed
raises MalformedReply, a ValueError; no other exception escapes.

Only what the probe judges is read: the id, the rcode, the question's name and
the A records of the answer section that belong to that name (directly or by
the CNAME chain a recursive resolver puts before them). Authority and
additional sections are not read.
"""

from __future__ import annotations

import secrets
import socket
import struct
from dataclasses import dataclass

A, CNAME = 1, 5
CLASS_IN = 1
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
RCODE_NAMES = {
    NOERROR: "NOERROR", FORMERR: "FORMERR", SERVFAIL: "SERVFAIL", NXDOMAIN: "NXDOMAIN",
    NOTIMP: "NOTIMP", REFUSED: "REFUSED",
}  # fmt: skip
MAX_NAME = 255  # bytes in wire form (RFC 1035 2.3.4)
MAX_LABEL = 63
MAX_CHAIN = 16  # CNAMEs followed from the question's name
MAX_POINTERS = MAX_NAME // 2  # a name has at most 127 labels: more jumps are a tar pit
_HEADER = struct.Struct("!HHHHHH")
_RECORD = struct.Struct("!HHIH")  # type, class, ttl, rdlength
_QR, _RD = 0x8000, 0x0100


class MalformedReply(ValueError):
    """Bytes that are no DNS reply: too short, a query, a name or record past the end."""


class BadName(ValueError):
    """A name that cannot be asked: empty label, label over 63 bytes, over 255 in all."""


@dataclass(frozen=True)
class Reply:
    ident: int
    rcode: int
    truncated: bool
    question: str | None  # lower case, no trailing dot; None: the reply has no question
    addresses: tuple[str, ...]  # IPv4, sorted: the question's A records

    @property
    def rcode_name(self) -> str:
        return RCODE_NAMES.get(self.rcode, f"RCODE{self.rcode}")

    @property
    def summary(self) -> str:
        """Its answer in a word: 198.18.2.10|198.18.2.11, NODATA (no A record) or the rcode."""
        if self.rcode != NOERROR:
            return self.rcode_name
        return "|".join(self.addresses) or "NODATA"


def a_query(name: str, ident: int | None = None) -> tuple[int, bytes]:
    """(id, wire) of a recursive A query for `name`; the id is random unless given."""
    if ident is None:
        ident = secrets.randbelow(0x10000)  # unguessable: an off-path forger must guess it
    header = _HEADER.pack(ident, _RD, 1, 0, 0, 0)
    return ident, header + encode_name(name) + struct.pack("!HH", A, CLASS_IN)


def encode_name(name: str) -> bytes:
    """`name` (dotted, ASCII, trailing dot optional) in wire form."""
    text = name[:-1] if name.endswith(".") else name
    if not text:
        return b"\x00"
    try:
        labels = [label.encode("ascii") for label in text.split(".")]
    except UnicodeEncodeError:
        raise BadName(f"{name!r} is not ASCII: write it in its xn-- form") from None
    if any(not 0 < len(label) <= MAX_LABEL for label in labels):
        raise BadName(f"{name!r} has an empty label or one over {MAX_LABEL} bytes")
    wire = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    if len(wire) > MAX_NAME:
        raise BadName(f"{name!r} is over {MAX_NAME} bytes")
    return wire


def normalize(name: str) -> str:
    """A name as replies are compared: lower case, no trailing dot."""
    return name.lower().rstrip(".")


def parse_reply(data: bytes) -> Reply:
    """The reply in `data`; MalformedReply if it is none."""
    try:
        return _parse(data)
    except (IndexError, struct.error) as exc:  # a check missed below is still no crash
        raise MalformedReply(f"runs past the end ({exc})") from None


def _parse(data: bytes) -> Reply:
    if len(data) < _HEADER.size:
        raise MalformedReply(f"{len(data)} bytes: shorter than a DNS header")
    ident, flags, qdcount, ancount, _nscount, _arcount = _HEADER.unpack_from(data)
    if not flags & _QR:
        raise MalformedReply("a query, not a reply")
    offset = _HEADER.size
    question = None
    for index in range(qdcount):
        name, offset = read_name(data, offset)
        _need(data, offset + 4, "question")
        offset += 4
        question = name if index == 0 else question
    cnames: dict[str, str] = {}
    found: list[tuple[str, str]] = []
    for _ in range(ancount):
        owner, offset = read_name(data, offset)
        _need(data, offset + _RECORD.size, "record")
        rtype, rclass, _ttl, size = _RECORD.unpack_from(data, offset)
        start, offset = offset + _RECORD.size, offset + _RECORD.size + size
        _need(data, offset, "record data")
        if rclass != CLASS_IN:
            continue
        if rtype == A:
            if size != 4:
                raise MalformedReply(f"an A record of {size} bytes")
            found.append((owner, socket.inet_ntop(socket.AF_INET, data[start:offset])))
        elif rtype == CNAME:
            target, end = read_name(data, start)
            if end != offset:
                raise MalformedReply("a CNAME whose name does not fill its data")
            cnames.setdefault(owner, target)
    chain = _chain(question, cnames)
    addresses = tuple(sorted({address for owner, address in found if owner in chain}))
    return Reply(ident, flags & 0xF, bool(flags & 0x0200), question, addresses)


def _chain(question: str | None, cnames: dict[str, str]) -> set[str]:
    """The question's name and the names its CNAMEs lead to (loops and long chains cut)."""
    chain: set[str] = set()
    name = question
    while name is not None and name not in chain and len(chain) <= MAX_CHAIN:
        chain.add(name)
        name = cnames.get(name)
    return chain


def read_name(data: bytes, offset: int) -> tuple[str, int]:
    """The (normalized) name at `offset` and the offset just after it, pointers followed."""
    labels: list[str] = []
    length = 1  # the root's zero byte
    end: int | None = None  # after the name where it starts, once a pointer is taken
    floor = offset  # the lowest byte of the name read so far: a pointer must go below it
    jumps = 0
    while True:
        _need(data, offset + 1, "name")
        size = data[offset]
        if size == 0:
            return ".".join(labels), (offset + 1 if end is None else end)
        if size & 0xC0 == 0xC0:
            _need(data, offset + 2, "compression pointer")
            target = ((size & 0x3F) << 8) | data[offset + 1]
            if target >= floor:
                raise MalformedReply(f"a compression pointer to {target} that could loop")
            jumps += 1
            if jumps > MAX_POINTERS:
                raise MalformedReply(f"a name of over {MAX_POINTERS} compression pointers")
            end = offset + 2 if end is None else end
            offset = floor = target
            continue
        if size > MAX_LABEL:
            raise MalformedReply(f"label type {size >> 6:#x} is not a length")
        _need(data, offset + 1 + size, "label")
        length += size + 1
        if length > MAX_NAME:
            raise MalformedReply(f"a name over {MAX_NAME} bytes")
        labels.append(_label_text(data[offset + 1 : offset + 1 + size].lower()))
        offset += size + 1


def _label_text(label: bytes) -> str:
    """A label as dig shows it: odd bytes as \\DDD, dots and backslashes escaped."""
    return "".join(
        "\\" + chr(b) if chr(b) in ".\\" else chr(b) if 0x21 <= b <= 0x7E else f"\\{b:03d}"
        for b in label
    )


def _need(data: bytes, end: int, what: str) -> None:
    if end > len(data):
        raise MalformedReply(f"the {what} runs past the end ({len(data)} bytes)")
