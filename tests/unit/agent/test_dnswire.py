"""agent/readers/dnswire.py: the dns probe's queries, and replies however hostile.

Queries are checked against the lab's own DNS parser (written apart from this
one); replies come from the lab server (recorded below), from hand-built bytes
and from hypothesis. Whatever the bytes, parse_reply returns or raises
MalformedReply, a ValueError: never anything else, never a hang.
"""

from __future__ import annotations

import contextlib
import ipaddress
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.readers import dnswire
from agent.readers.dnswire import BadName, MalformedReply, Reply, a_query, parse_reply
from lab.services import dnswire as lab_wire

# Recorded from the lab services server (lab/services/dns.py, UDP on 127.0.0.1), its
# records {"www.example.test": ["198.18.1.10", "198.18.1.11", "2001:db8::11"]}, zones
# ["test"], asked with a_query(name, ident) and the reply read with sock.recv.
RECORDED_A = bytes.fromhex(  # www.example.test A, id 0x1a2b: two A records, AA+RD+RA
    "1a2b8580000100020000000003777777076578616d706c6504746573740000010001"
    "c00c000100010000003c0004c612010ac00c000100010000003c0004c612010b"
)
RECORDED_NXDOMAIN = bytes.fromhex(  # gone.example.test A, id 0x3c4d: NXDOMAIN with an SOA
    "3c4d8583000100000001000004676f6e65076578616d706c6504746573740000010001"
    "047465737400000600010000003c002e026e730474657374000a686f73746d61737465720474657374"
    "000000000100000e1000000258000151800000003c"
)
HEADER = struct.Struct("!6H")


def reply_bytes(*sections: bytes, ident: int = 7, flags: int = 0x8180, an: int = 0) -> bytes:
    """A reply with one question (the first section) and `an` answer records."""
    return HEADER.pack(ident, flags, 1, an, 0, 0) + b"".join(sections)


def name(text: str) -> bytes:
    return lab_wire.encode_name(text)


def record(owner: bytes, rtype: int, rdata: bytes, rclass: int = 1) -> bytes:
    return owner + struct.pack("!HHIH", rtype, rclass, 60, len(rdata)) + rdata


QUESTION = name("www.example.test") + struct.pack("!HH", 1, 1)  # at offset 12


# --- queries --------------------------------------------------------------------------


def test_a_query_is_a_recursive_a_query_the_lab_server_reads() -> None:
    ident, wire = a_query("Chat.Platform.test.", ident=0xBEEF)
    query = lab_wire.parse_query(wire)
    assert (ident, query.ident) == (0xBEEF, 0xBEEF)
    assert query.flags == 0x0100  # RD: a resolver recurses for us
    assert (query.question.name, query.question.qtype, query.question.qclass) == (
        "chat.platform.test",
        lab_wire.A,
        lab_wire.CLASS_IN,
    )
    assert query.edns is None  # so a reply fits 512 bytes


def test_a_query_ids_are_random() -> None:
    idents = {a_query("www.example.test")[0] for _ in range(64)}
    assert len(idents) > 50
    assert all(0 <= i <= 0xFFFF for i in idents)


@pytest.mark.parametrize(
    "bad",
    ["a..test", ".test", "x" * 64 + ".test", ".".join(["abcdefghi"] * 26), "bücher.test"],
    ids=["empty-label", "leading-dot", "label-64", "name-260", "not-ascii"],
)
def test_a_query_refuses_names_it_cannot_encode(bad: str) -> None:
    with pytest.raises(BadName):
        a_query(bad)
    assert issubclass(BadName, ValueError)


def test_a_query_takes_the_longest_legal_labels_and_names() -> None:
    longest_label = "x" * 63 + ".test"
    longest_name = ".".join(["y" * 63] * 3 + ["z" * 61])  # 253 characters, 255 bytes
    for good in (longest_label, longest_name, longest_name + "."):
        assert lab_wire.parse_query(a_query(good)[1]).question.name == good.rstrip(".")


# --- replies the lab server gives ------------------------------------------------------


def test_recorded_reply_from_the_lab_server() -> None:
    assert parse_reply(RECORDED_A) == Reply(
        ident=0x1A2B,
        rcode=dnswire.NOERROR,
        truncated=False,
        question="www.example.test",
        addresses=("198.18.1.10", "198.18.1.11"),
    )
    nxdomain = parse_reply(RECORDED_NXDOMAIN)
    assert (nxdomain.ident, nxdomain.rcode_name, nxdomain.addresses) == (0x3C4D, "NXDOMAIN", ())
    assert nxdomain.question == "gone.example.test"


@pytest.mark.parametrize(
    "rcode", [lab_wire.NOERROR, lab_wire.SERVFAIL, lab_wire.NXDOMAIN, lab_wire.REFUSED]
)
def test_round_trip_through_the_lab_servers_encoder(rcode: int) -> None:
    ident, wire = a_query("cdn.example.test")
    query = lab_wire.parse_query(wire)
    answers = [
        lab_wire.address_record(ipaddress.ip_address(a), 60)
        for a in ("198.18.1.12", "198.18.1.11", "2001:db8::11")
    ]
    reply = parse_reply(lab_wire.response(query, rcode, answers if rcode == 0 else []))
    assert (reply.ident, reply.rcode, reply.question) == (ident, rcode, "cdn.example.test")
    assert reply.addresses == (("198.18.1.11", "198.18.1.12") if rcode == 0 else ())


def test_a_truncated_reply_says_so() -> None:
    query = lab_wire.parse_query(a_query("www.example.test")[1])
    many = [lab_wire.address_record(ipaddress.ip_address(f"198.18.3.{i}"), 60) for i in range(40)]
    reply = parse_reply(lab_wire.response(query, 0, many, limit=512))
    assert reply.truncated
    assert reply.addresses == ()


def test_header_only_error_reply_has_no_question() -> None:
    reply = parse_reply(HEADER.pack(9, 0x8001, 0, 0, 0, 0))  # FORMERR, as the lab sends it
    assert (reply.rcode_name, reply.question, reply.addresses) == ("FORMERR", None, ())
    assert parse_reply(HEADER.pack(9, 0x800B, 0, 0, 0, 0)).rcode_name == "RCODE11"


# --- what a recursive resolver adds: CNAME chains, strays ------------------------------


def test_follows_the_cname_chain_and_ignores_strays() -> None:
    cdn = 12 + len(QUESTION) + 12  # where the CNAME's target name starts in the message
    data = reply_bytes(
        QUESTION,
        record(b"\xc0\x0c", dnswire.CNAME, name("cdn.example.test")),
        record(struct.pack("!H", 0xC000 | cdn), dnswire.A, bytes([198, 18, 1, 11])),
        record(name("other.test"), dnswire.A, bytes([198, 18, 66, 6])),  # not in the chain
        record(b"\xc0\x0c", dnswire.A, bytes([198, 18, 66, 7]), rclass=3),  # CHAOS, not IN
        record(b"\xc0\x0c", 28, bytes(16)),  # AAAA
        an=5,
    )
    assert parse_reply(data).addresses == ("198.18.1.11",)


def test_a_cname_loop_ends() -> None:
    data = reply_bytes(
        QUESTION,
        record(b"\xc0\x0c", dnswire.CNAME, name("b.test")),
        record(name("b.test"), dnswire.CNAME, name("www.example.test")),
        record(name("b.test"), dnswire.A, bytes([198, 18, 1, 13])),
        an=3,
    )
    assert parse_reply(data).addresses == ("198.18.1.13",)


# --- hostile bytes ---------------------------------------------------------------------


def test_every_truncation_of_a_real_reply_is_malformed() -> None:
    for cut in range(len(RECORDED_A)):
        with pytest.raises(MalformedReply):
            parse_reply(RECORDED_A[:cut])
    question_end = 12 + len(name("gone.example.test")) + 4
    for cut in range(question_end):
        with pytest.raises(MalformedReply):
            parse_reply(RECORDED_NXDOMAIN[:cut])
    # The authority section is never read: cut there, the reply still says NXDOMAIN.
    assert parse_reply(RECORDED_NXDOMAIN[: question_end + 3]).rcode_name == "NXDOMAIN"


@pytest.mark.parametrize(
    "question",
    [
        b"\xc0\x0c",  # a pointer to itself
        b"\xc0\x0e",  # forwards
        b"\xc0\x0e\xc0\x0c",  # two pointing at each other
        b"\x01a\xc0\x0c",  # a label, then back to it: backwards, and still a loop
        b"\x01a\x01b\xc0\x0e",  # back into the middle of the same name
        b"\xc0\xff",  # past the end
        b"\xc0",  # half a pointer
    ],
    ids=["self", "forward", "mutual", "back-to-start", "back-to-middle", "past-end", "half"],
)
def test_compression_pointer_loops_and_strays_are_malformed(question: bytes) -> None:
    with pytest.raises(MalformedReply):
        parse_reply(reply_bytes(question + struct.pack("!HH", 1, 1)))


def pointer_chain(links: int) -> bytes:
    """An A record whose owner is `links` pointers, each to the one before (held in the
    data of a record nobody reads), the first to the root name of the question."""
    rdata = b"".join(
        struct.pack("!H", 0xC000 | (12 if i == 0 else 28 + 2 * (i - 1))) for i in range(links)
    )
    return (
        HEADER.pack(7, 0x8180, 1, 2, 0, 0)
        + b"\x00" + struct.pack("!HH", 1, 1)  # the root, at 12
        + record(b"\x00", 99, rdata)  # owner at 17, data at 28
        + record(struct.pack("!H", 0xC000 | (28 + 2 * (links - 1))), 1, bytes([198, 18, 1, 1]))
    )  # fmt: skip


def test_a_tar_pit_of_pointers_is_cut_short() -> None:
    # Every pointer goes strictly backwards: no loop, but a long walk on a router's CPU.
    assert parse_reply(pointer_chain(100)).addresses == ("198.18.1.1",)
    started = time.monotonic()
    with pytest.raises(MalformedReply, match="compression pointers"):
        parse_reply(pointer_chain(dnswire.MAX_POINTERS + 1))
    with pytest.raises(MalformedReply):
        parse_reply(pointer_chain(2000))
    assert time.monotonic() - started < 0.1


@pytest.mark.parametrize(
    "question",
    [
        b"\x40" + b"x" * 64 + b"\x00",  # 64: label type 01, not a length
        b"\x80\x00",  # label type 10
        b"".join([b"\x3f" + b"x" * 63] * 4) + b"\x00",  # 257 bytes
        b"\x05abc",  # the label runs past the end
    ],
    ids=["label-64", "type-10", "name-257", "short-label"],
)
def test_oversized_labels_and_names_are_malformed(question: bytes) -> None:
    with pytest.raises(MalformedReply):
        parse_reply(reply_bytes(question + struct.pack("!HH", 1, 1)))


def test_a_name_over_255_bytes_through_pointers_is_malformed() -> None:
    first = b"".join([b"\x3f" + b"x" * 63] * 3) + b"\x00"  # 193 bytes at offset 12
    second = b"\x3f" + b"y" * 63 + b"\xc0\x0c"  # 64 more, then all of the first: 257
    data = reply_bytes(first + struct.pack("!HH", 1, 1), record(second, 1, bytes(4)), an=1)
    with pytest.raises(MalformedReply, match="over 255"):
        parse_reply(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        RECORDED_A[:11],
        RECORDED_A[:2] + b"\x01\x00" + RECORDED_A[4:],  # QR clear: a query
        reply_bytes(QUESTION, record(b"\xc0\x0c", 1, bytes(5)), an=1),  # A of 5 bytes
        reply_bytes(QUESTION, record(b"\xc0\x0c", 1, bytes(4))[:-2], an=1),  # rdata cut
        reply_bytes(QUESTION, record(b"\xc0\x0c", 5, name("a.test") + b"\x00"), an=1),
        reply_bytes(QUESTION, an=65535),  # counts that the bytes do not hold
        HEADER.pack(1, 0x8180, 65535, 0, 0, 0),
    ],
    ids=["empty", "short-header", "query", "a-5", "rdata-cut", "cname-long", "ancount", "qd"],
)
def test_malformed_replies(data: bytes) -> None:
    with pytest.raises(MalformedReply):
        parse_reply(data)


def test_odd_bytes_in_names_are_escaped_not_trusted() -> None:
    odd = b"\x05a.b\\\x01" + name("test")
    assert (
        parse_reply(reply_bytes(odd + struct.pack("!HH", 1, 1))).question == "a\\.b\\\\\\001.test"
    )


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_parse_or_raise_malformed(data: bytes) -> None:
    with contextlib.suppress(MalformedReply):
        parse_reply(data)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(RECORDED_A) - 1), st.integers(0, 255)), max_size=6))
def test_mutated_real_replies_parse_or_raise_malformed(changes: list[tuple[int, int]]) -> None:
    data = bytearray(RECORDED_A)
    for offset, byte in changes:
        data[offset] = byte
    try:
        reply = parse_reply(bytes(data))
    except MalformedReply:
        return
    assert all(ipaddress.ip_address(a).version == 4 for a in reply.addresses)
