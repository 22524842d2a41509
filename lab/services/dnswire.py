"""DNS messages (RFC 1035, EDNS from RFC 6891): parse a query, build a response. Pure.

Only what a lab resolver needs: one question, A/AAAA/TXT/SOA answers, an OPT
record when the query had one. The question is echoed byte for byte, so a
client's 0x20 case randomisation comes back as sent.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from lab.services.names import IPAddress

A, NS, SOA, TXT, AAAA, OPT, ANY = 1, 2, 6, 16, 28, 41, 255
CLASS_IN = 1
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
BADVERS = 16  # extended rcode: only expressible with an OPT record
TYPE_NAMES = {A: "A", NS: "NS", SOA: "SOA", TXT: "TXT", AAAA: "AAAA", OPT: "OPT", ANY: "ANY"}
RCODE_NAMES = {
    NOERROR: "NOERROR", FORMERR: "FORMERR", SERVFAIL: "SERVFAIL", NXDOMAIN: "NXDOMAIN",
    NOTIMP: "NOTIMP", REFUSED: "REFUSED", BADVERS: "BADVERS",
}  # fmt: skip

UDP_PLAIN_LIMIT = 512
UDP_EDNS_LIMIT = 1232  # the DNS flag day 2020 size: no fragmentation on any sane path
_HEADER = struct.Struct("!HHHHHH")
_QR, _AA, _TC, _RD, _RA, _CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0010


class BadQuery(Exception):
    """A message this server will not answer normally.

    `rcode` is the error to reply with (FORMERR, NOTIMP), or None to stay
    silent: too short to have an ID, or a response rather than a query.
    """

    def __init__(self, why: str, rcode: int | None = None, ident: int = 0, flags: int = 0) -> None:
        super().__init__(why)
        self.rcode = rcode
        self.ident = ident
        self.flags = flags


@dataclass(frozen=True)
class Question:
    labels: tuple[bytes, ...]
    qtype: int
    qclass: int
    wire: bytes  # the question section as received

    @property
    def name(self) -> str:
        """The name as the config writes it: lower case, no trailing dot, `.` for the root."""
        return ".".join(_label_text(label.lower()) for label in self.labels) or "."

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.qtype, f"TYPE{self.qtype}")


@dataclass(frozen=True)
class Edns:
    payload: int
    version: int


@dataclass(frozen=True)
class Query:
    ident: int
    flags: int
    question: Question
    edns: Edns | None = None

    def udp_limit(self) -> int:
        """The largest UDP response this client takes."""
        if self.edns is None:
            return UDP_PLAIN_LIMIT
        return max(UDP_PLAIN_LIMIT, min(self.edns.payload, UDP_EDNS_LIMIT))


@dataclass(frozen=True)
class Record:
    """A resource record; `owner` None means the question's name (compressed)."""

    rtype: int
    ttl: int
    rdata: bytes
    owner: str | None = None


def parse_query(data: bytes) -> Query:
    """The query in `data`; raises BadQuery for anything else."""
    if len(data) < _HEADER.size:
        raise BadQuery("shorter than a DNS header")
    ident, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if flags & _QR:
        raise BadQuery("a response, not a query")
    if (flags >> 11) & 0xF != 0:
        raise BadQuery("not a standard query", NOTIMP, ident, flags)
    if qdcount != 1:
        raise BadQuery(f"{qdcount} questions", FORMERR, ident, flags)
    try:
        labels, offset = _read_name(data, _HEADER.size)
        qtype, qclass = struct.unpack_from("!HH", data, offset)
        question = Question(labels, qtype, qclass, data[_HEADER.size : offset + 4])
        offset += 4
        for _ in range(ancount + nscount):
            offset = _skip_record(data, offset)
        edns = None
        for _ in range(arcount):
            opt, offset = _read_additional(data, offset)
            if opt is not None and edns is not None:
                raise BadQuery("two OPT records", FORMERR, ident, flags)
            edns = opt or edns
    except (struct.error, IndexError, ValueError) as exc:
        raise BadQuery(f"malformed: {exc}", FORMERR, ident, flags) from None
    return Query(ident, flags, question, edns)


def response(
    query: Query,
    rcode: int,
    answers: Sequence[Record] = (),
    authority: Sequence[Record] = (),
    *,
    authoritative: bool = True,
    limit: int | None = None,
) -> bytes:
    """The response to `query`; over `limit` bytes it is truncated (TC, no records)."""
    wire = _response(query, rcode, answers, authority, authoritative=authoritative, tc=False)
    if limit is not None and len(wire) > limit:
        wire = _response(query, rcode, (), (), authoritative=authoritative, tc=True)
    return wire


def error_response(error: BadQuery) -> bytes:
    """The header-only reply to a query that could not be parsed (RFC 1035 allows no question)."""
    flags = _QR | (error.flags & (0x7800 | _RD)) | (error.rcode or 0)
    return _HEADER.pack(error.ident, flags, 0, 0, 0, 0)


def address_record(address: IPAddress, ttl: int, owner: str | None = None) -> Record:
    return Record(A if address.version == 4 else AAAA, ttl, address.packed, owner)


def txt_record(texts: Sequence[str], ttl: int) -> Record:
    rdata = b"".join(bytes([len(t)]) + t for t in (text.encode("utf-8") for text in texts))
    return Record(TXT, ttl, rdata)


def soa_record(zone: str, ttl: int) -> Record:
    """A synthetic SOA for `zone`, so resolvers can cache NXDOMAIN and empty answers."""
    origin = "" if zone == "." else "." + zone
    rdata = (
        encode_name("ns" + origin)
        + encode_name("hostmaster" + origin)
        + struct.pack("!IIIII", 1, 3600, 600, 86400, ttl)
    )
    return Record(SOA, ttl, rdata, owner=zone)


def encode_name(name: str) -> bytes:
    """`name` (dotted, ASCII) in wire form."""
    if name in (".", ""):
        return b"\x00"
    return (
        b"".join(bytes([len(p)]) + p for p in (part.encode("ascii") for part in name.split(".")))
        + b"\x00"
    )


def _response(
    query: Query,
    rcode: int,
    answers: Sequence[Record],
    authority: Sequence[Record],
    *,
    authoritative: bool,
    tc: bool,
) -> bytes:
    flags = _QR | (query.flags & (0x7800 | _RD | _CD)) | _RA | (rcode & 0xF)
    flags |= (_AA if authoritative else 0) | (_TC if tc else 0)
    additional = []
    if query.edns is not None:
        # OPT: root owner, class = our UDP size, TTL = extended rcode | version 0 | no DO.
        additional.append(
            b"\x00" + struct.pack("!HHIH", OPT, UDP_EDNS_LIMIT, (rcode >> 4) << 24, 0)
        )
    header = _HEADER.pack(query.ident, flags, 1, len(answers), len(authority), len(additional))
    records = b"".join(_record(r) for r in (*answers, *authority))
    return header + query.question.wire + records + b"".join(additional)


def _record(record: Record) -> bytes:
    owner = b"\xc0\x0c" if record.owner is None else encode_name(record.owner)
    return (
        owner
        + struct.pack("!HHIH", record.rtype, CLASS_IN, record.ttl, len(record.rdata))
        + record.rdata
    )


def _read_name(data: bytes, offset: int) -> tuple[tuple[bytes, ...], int]:
    """The labels of the uncompressed name at `offset` and the offset after it."""
    labels: list[bytes] = []
    length = 1
    while True:
        size = data[offset]
        if size == 0:
            return tuple(labels), offset + 1
        if size > 63:
            raise ValueError("compressed or invalid name in the question")
        label = data[offset + 1 : offset + 1 + size]
        if len(label) != size:
            raise ValueError("name runs past the end")
        length += size + 1
        if length > 255:
            raise ValueError("name longer than 255 bytes")
        labels.append(label)
        offset += size + 1


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        size = data[offset]
        if size == 0:
            return offset + 1
        if size & 0xC0 == 0xC0:
            return offset + 2  # a pointer ends the name
        if size > 63:
            raise ValueError("invalid label type")
        offset += size + 1


def _skip_record(data: bytes, offset: int) -> int:
    offset = _skip_name(data, offset)
    rdlength: int = struct.unpack_from("!HHIH", data, offset)[3]
    end = offset + 10 + rdlength
    if end > len(data):
        raise ValueError("record runs past the end")
    return end


def _read_additional(data: bytes, offset: int) -> tuple[Edns | None, int]:
    start = _skip_name(data, offset)
    rtype, rclass, ttl, _rdlength = struct.unpack_from("!HHIH", data, start)
    end = _skip_record(data, offset)
    if rtype != OPT:
        return None, end
    return Edns(payload=rclass, version=(ttl >> 16) & 0xFF), end


def _label_text(label: bytes) -> str:
    """A label as dig prints it: odd bytes as \\DDD, dots and backslashes escaped."""
    out = []
    for byte in label:
        char = chr(byte)
        if char in ".\\":
            out.append("\\" + char)
        elif 0x21 <= byte <= 0x7E:
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)
