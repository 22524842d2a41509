"""The lab's emulated internet services, run on 127.0.0.1 high ports (no root, no other network).

Every socket here is bound to or connects to 127.0.0.0/8; addresses such as
198.18.1.10 appear only as data inside DNS answers.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import queue
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lab.services import config, dns, dnswire, events, names
from lab.services.ca import LabCA
from lab.services.ca import main as ca_main
from lab.services.clienthello import NeedMore, client_hello_sni
from lab.services.errors import CertificateError, ConfigError, ListenError
from lab.services.serve import Services
from tests.conftest import ROOT

LOOPBACK = "127.0.0.1"
NOWHERE = "127.0.0.77"  # runs no resolver, unless a test puts an injector there

# What `dig @127.0.0.1 -p PORT www.example.test A` (9.18.49) sent: RD+AD, EDNS 1232, a cookie.
DIG_QUERY = bytes.fromhex(
    "f7e50120000100000000000103777777076578616d706c650474657374000001000100"
    "002904d000000000000c000a00089a66c33641dc8e9f"
)
# What dnspython 2.x `make_query("www.example.test", "A")` sent: RD, no EDNS.
DNSPYTHON_QUERY = bytes.fromhex(
    "da630100000100000000000003777777076578616d706c6504746573740000010001"
)


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (DNS needs both)."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind((LOOPBACK, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((LOOPBACK, port))
                except OSError:
                    continue
                return port
    raise AssertionError("no free port on 127.0.0.1")


# --- a small DNS client, written apart from lab.services.dnswire ----------------------


@dataclass
class Reply:
    ident: int
    flags: int
    rcode: int
    answers: list[tuple[int, str]] = field(default_factory=list)
    authority: list[int] = field(default_factory=list)
    additional: list[int] = field(default_factory=list)
    question: bytes = b""


def _name_end(data: bytes, offset: int) -> int:
    while data[offset] != 0:
        if data[offset] >= 0xC0:
            return offset + 2
        offset += data[offset] + 1
    return offset + 1


def _rdata_text(rtype: int, rdata: bytes) -> str:
    if rtype in (1, 28):
        return socket.inet_ntop(socket.AF_INET if rtype == 1 else socket.AF_INET6, rdata)
    if rtype != 16:
        return ""
    texts, offset = [], 0
    while offset < len(rdata):
        texts.append(rdata[offset + 1 : offset + 1 + rdata[offset]].decode())
        offset += 1 + rdata[offset]
    return "|".join(texts)


def decode(data: bytes) -> Reply:
    ident, flags, qd, an, ns, ar = struct.unpack_from("!6H", data)
    offset = 12
    for _ in range(qd):
        offset = _name_end(data, offset) + 4
    reply = Reply(ident, flags, flags & 0xF, question=data[12:offset])
    for section in range(an + ns + ar):
        offset = _name_end(data, offset)
        rtype, _cls, _ttl, size = struct.unpack_from("!HHIH", data, offset)
        rdata = data[offset + 10 : offset + 10 + size]
        offset += 10 + size
        if section < an:
            reply.answers.append((rtype, _rdata_text(rtype, rdata)))
        elif section < an + ns:
            reply.authority.append(rtype)
        else:
            reply.additional.append(rtype)
            if rtype == 41:
                reply.rcode |= (_ttl >> 24) << 4
    return reply


def query_bytes(name: str, qtype: int = 1, *, ident: int = 0x1234, edns: bool = True) -> bytes:
    header = struct.pack("!6H", ident, 0x0100, 1, 0, 0, 1 if edns else 0)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0) if edns else b""
    return header + qname + struct.pack("!HH", qtype, 1) + opt


def ask(
    port: int,
    name: str,
    qtype: int = 1,
    *,
    host: str = LOOPBACK,
    edns: bool = True,
    timeout: float = 2.0,
) -> Reply:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query_bytes(name, qtype, edns=edns), (host, port))
        return decode(sock.recv(65535))


def ask_all(port: int, name: str, *, host: str = LOOPBACK, wait: float = 0.5) -> list[Reply]:
    """Every reply to one query that arrives within `wait` seconds (injection gives two)."""
    replies = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        sock.send(query_bytes(name))
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                replies.append(decode(sock.recv(65535)))
            except (TimeoutError, ConnectionRefusedError):
                break
    return replies


def ask_tcp(port: int, name: str, qtype: int = 1) -> Reply:
    with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
        message = query_bytes(name, qtype)
        sock.sendall(struct.pack("!H", len(message)) + message)
        (length,) = struct.unpack("!H", _recv_exactly(sock, 2))
        return decode(_recv_exactly(sock, length))


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    ca = LabCA(tmp_path_factory.mktemp("pki"))
    ca.issue("www", ["www.example.test", "198.18.1.10"])
    ca.issue("chat", ["chat.test", "*.chat.test"])
    return ca


def dns_config(port: int, **extra: Any) -> dict[str, Any]:
    entry = {
        "listen": LOOPBACK,
        "port": port,
        "zones": ["test"],
        "records": {
            "www.example.test": "198.18.1.10",
            "cdn.example.test": ["198.18.1.11", "2001:db8::11"],
            "deep.down.example.test": "198.18.1.12",
            "chat.test": "198.18.2.10",
            "media.chat.test": "198.18.2.11",
        },
        "txt": {"example.test": ["v=lab", "second"]},
    }
    entry.update(extra)
    return {"dns": [entry]}


def web_config(pki: LabCA, http_port: int, tls_port: int, **block: Any) -> dict[str, Any]:
    sites = {"www.example.test": "www body\n", "chat.test": "chat body\n"}
    return {
        "http": [
            {
                "listen": LOOPBACK,
                "port": http_port,
                "sites": sites,
                "block": block.get("http", {}),
                "bulk_max_bytes": 1 << 20,
            }
        ],
        "tls": [
            {
                "listen": LOOPBACK,
                "port": tls_port,
                "certificates": [
                    {"names": ["www.example.test"], "cert": "www.crt", "key": "www.key"},
                    {"names": ["chat.test", "*.chat.test"], "cert": "chat.crt", "key": "chat.key"},
                ],
                "sites": sites,
                "block": block.get("tls", {}),
            }
        ],
    }


# --- config ------------------------------------------------------------------------------


def test_config_parses_the_documented_example() -> None:
    parsed = config.parse(
        {
            "max_concurrent": 8,
            "dns": [
                {
                    "listen": "198.18.0.53",
                    "zones": ["test"],
                    "records": {"WWW.Example.Test.": "198.18.1.10"},
                    "tamper": {"chat.test": {"mode": "lie", "address": "198.18.66.6"},
                               "video.test": "nxdomain", "bogus.test": "bogon"},
                }
            ],
            "dns_injector": [{"listen": "198.18.0.99", "address": "198.18.66.6",
                              "names": ["chat.test"]}],
            "http": [{"listen": "198.18.1.10", "sites": {"www.example.test": "hi"},
                      "block": {"chat.test": "blockpage"}}],
            "tls": [{"listen": "198.18.1.10", "certificates": [
                {"names": ["*.example.test"], "cert": "a.crt", "key": "a.key"}]}],
            "tcp_echo": [{"listen": "198.18.1.10"}],
        },
        base=Path("/etc/lab"),
    )  # fmt: skip
    resolver = parsed.dns[0]
    assert resolver.port == 53 and resolver.tcp and resolver.ttl == 60
    assert dict(resolver.records) == {"www.example.test": (ipaddress.ip_address("198.18.1.10"),)}
    assert resolver.tamper["video.test"] == config.TamperRule("nxdomain")
    assert resolver.tamper["bogus.test"] == config.TamperRule(
        "bogon", ipaddress.ip_address("127.0.0.1")
    )
    assert parsed.tls[0].certificates[0].cert == Path("/etc/lab/a.crt")
    assert parsed.tls[0].port == 443 and parsed.http[0].port == 80
    assert parsed.tcp_echo[0].port == 7 and parsed.max_concurrent == 8
    assert [s.where for s in config.sockets(parsed)] == [
        "dns[0]", "dns[0]", "dns_injector[0]", "http[0]", "tls[0]", "tcp_echo[0]",
    ]  # fmt: skip


INVALID: list[tuple[object, str]] = [
    ([], "config: expected an object, got a list"),
    ({"dsn": []}, "config: unknown key 'dsn' — did you mean 'dns'?"),
    ({"dns": {}}, "dns: expected a list, got an object"),
    ({"dns": [{"listen": "127.0.0.1"}]}, "dns[0]: 'zones' is required"),
    (
        {"dns": [{"listen": "localhost", "zones": ["test"]}]},
        "dns[0].listen: 'localhost' is not an IPv4 or IPv6 address",
    ),
    (
        {"dns": [{"listen": "127.0.0.1", "zones": []}]},
        "dns[0].zones: empty — list the zones this server answers for",
    ),
    (
        {"dns": [{"listen": "127.0.0.1", "port": 0, "zones": ["test"]}]},
        "dns[0].port: 0 is out of range — use 1 to 65535",
    ),
    (
        {"dns": [{"listen": "127.0.0.1", "port": "53", "zones": ["test"]}]},
        "dns[0].port: expected a whole number, got a string",
    ),
    (
        {
            "dns": [
                {
                    "listen": "127.0.0.1",
                    "zones": ["test"],
                    "records": {"www.example.org": "198.18.1.4"},
                }
            ]
        },
        "dns[0].records: 'www.example.org' is not under any of the zones (test) — "
        "add its zone to zones",
    ),
    (
        {
            "dns": [
                {"listen": "127.0.0.1", "zones": ["test"], "records": {"a b.test": "198.18.1.4"}}
            ]
        },
        "dns[0].records: 'a b.test' is not a DNS name — use letters, digits and hyphens, "
        "labels of 1 to 63 characters separated by dots",
    ),
    (
        {"dns": [{"listen": "127.0.0.1", "zones": ["test"], "tamper": {"x.test": "lye"}}]},
        "dns[0].tamper['x.test'].mode: 'lye' is not one of "
        "lie, bogon, nxdomain, servfail, drop, inject",
    ),
    (
        {"dns": [{"listen": "127.0.0.1", "zones": ["test"], "tamper": {"x.test": "lie"}}]},
        "dns[0].tamper['x.test']: mode 'lie' needs an address — write "
        '{"mode": "lie", "address": "198.18.66.6"}',
    ),
    (
        {
            "dns": [
                {
                    "listen": "127.0.0.1",
                    "zones": ["test"],
                    "tamper": {"x.test": {"mode": "bogon", "address": "198.18.1.1"}},
                }
            ]
        },
        "dns[0].tamper['x.test'].address: 198.18.1.1 is not a bogon — use a private, loopback "
        "or reserved address such as 127.0.0.1 or 10.10.34.35",
    ),
    (
        {
            "dns": [
                {
                    "listen": "127.0.0.1",
                    "zones": ["test"],
                    "tamper": {"x.test": {"mode": "nxdomain", "address": "10.0.0.1"}},
                }
            ]
        },
        "dns[0].tamper['x.test'].address: mode 'nxdomain' takes no address — remove it",
    ),
    (
        {"dns": [{"listen": "127.0.0.1", "zones": ["test"], "tamper": {"x.test": {"mod": "lie"}}}]},
        "dns[0].tamper['x.test']: unknown key 'mod' — did you mean 'mode'?",
    ),
    (
        {"http": [{"listen": "127.0.0.1", "block": {"x.test": "rst"}}]},
        "http[0].block['x.test']: 'rst' is not one of blockpage, reset",
    ),
    (
        {"tls": [{"listen": "127.0.0.1", "certificates": []}]},
        "tls[0].certificates: empty — give at least one (the default)",
    ),
    (
        {
            "tls": [
                {
                    "listen": "127.0.0.1",
                    "block": {"x.test": "blockpage"},
                    "certificates": [{"names": ["x.test"], "cert": "c", "key": "k"}],
                }
            ]
        },
        "tls[0].block['x.test']: 'blockpage' is not one of reset",
    ),
    (
        {
            "http": [{"listen": "127.0.0.1", "port": 8080}],
            "tcp_echo": [{"listen": "127.0.0.1", "port": 8080}],
        },
        "tcp_echo[0]: 127.0.0.1:8080/tcp is already used by http[0] — give one of them another "
        "address or port",
    ),
    (
        {
            "dns": [{"listen": "::1", "zones": ["test"]}],
            "dns_injector": [{"listen": "::1", "address": "10.0.0.1"}],
        },
        "dns_injector[0]: [::1]:53/udp is already used by dns[0] — give one of them another "
        "address or port",
    ),
    ({"max_concurrent": True}, "max_concurrent: expected a whole number, got true/false"),
]


@pytest.mark.parametrize(("data", "message"), INVALID, ids=[m.split(":")[0] for _, m in INVALID])
def test_invalid_configs_say_exactly_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse(data)
    assert str(caught.value) == message


def test_config_file_errors_carry_the_position(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    path.write_text('{"dns": [\n  {"listen": "127.0.0.1",}\n]}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"services\.json:2:26: not JSON"):
        config.load(path)
    with pytest.raises(ConfigError, match="cannot read the config"):
        config.load(tmp_path / "missing.json")


def test_rules_cover_names_under_them_most_specific_first() -> None:
    rules = {"chat.test": 1, "media.chat.test": 2, ".": 3}
    assert names.most_specific(rules, "media.chat.test") == "media.chat.test"
    assert names.most_specific(rules, "cdn.media.chat.test") == "media.chat.test"
    assert names.most_specific(rules, "chat.test") == "chat.test"
    assert names.most_specific(rules, "notchat.test") == "."
    assert names.most_specific({"chat.test": 1}, "xchat.test") is None


# --- DNS messages (pure) -------------------------------------------------------------------


def test_parses_the_queries_dig_and_dnspython_send() -> None:
    dig = dnswire.parse_query(DIG_QUERY)
    assert (dig.question.name, dig.question.qtype, dig.ident) == ("www.example.test", 1, 0xF7E5)
    assert dig.edns == dnswire.Edns(payload=1232, version=0)
    assert dig.udp_limit() == 1232
    plain = dnswire.parse_query(DNSPYTHON_QUERY)
    assert plain.edns is None and plain.udp_limit() == 512


def test_resolver_answers_dig_with_an_opt_record_and_its_flags() -> None:
    resolver = dns.Resolver(config.parse(dns_config(53)).dns[0])
    query, verdict = dns.answer(resolver, DIG_QUERY, tcp=False)
    assert query is not None
    reply = decode(verdict.replies[0])
    assert reply.ident == 0xF7E5
    assert reply.flags & 0x8000 and reply.flags & 0x0400  # QR, AA
    assert reply.flags & 0x0100 and not reply.flags & 0x0020  # RD echoed; AD not: no DNSSEC
    assert reply.question == DIG_QUERY[12:34]
    assert reply.answers == [(1, "198.18.1.10")]
    assert reply.additional == [41]


def test_malformed_messages_get_formerr_notimp_or_silence() -> None:
    resolver = dns.Resolver(config.parse(dns_config(53)).dns[0])
    two_questions = bytearray(DNSPYTHON_QUERY)
    two_questions[5] = 2
    _, verdict = dns.answer(resolver, bytes(two_questions), tcp=False)
    assert decode(verdict.replies[0]).rcode == dnswire.FORMERR
    status = bytearray(DNSPYTHON_QUERY)
    status[2] |= 2 << 3  # opcode STATUS
    _, verdict = dns.answer(resolver, bytes(status), tcp=False)
    assert decode(verdict.replies[0]).rcode == dnswire.NOTIMP
    truncated = DNSPYTHON_QUERY[:20]
    _, verdict = dns.answer(resolver, truncated, tcp=False)
    assert decode(verdict.replies[0]).rcode == dnswire.FORMERR
    response = bytearray(DNSPYTHON_QUERY)
    response[2] |= 0x80  # QR: a response must never be answered (no loops)
    assert dns.answer(resolver, bytes(response), tcp=False)[1].replies == ()
    assert dns.answer(resolver, b"\x00\x01", tcp=False)[1].replies == ()


def test_big_answers_are_truncated_over_udp_and_whole_over_tcp() -> None:
    many = [f"198.18.3.{i}" for i in range(1, 60)]
    resolver = dns.Resolver(config.parse(dns_config(53, records={"big.test": many})).dns[0])
    query = dnswire.parse_query(query_bytes("big.test", edns=False))
    udp = decode(resolver.respond(query, tcp=False).replies[0])
    assert udp.flags & 0x0200 and udp.answers == []  # TC: retry over TCP
    tcp = decode(resolver.respond(query, tcp=True).replies[0])
    assert len(tcp.answers) == 59 and not tcp.flags & 0x0200


# --- DNS over the network ------------------------------------------------------------------


def test_dns_answers_nxdomain_nodata_and_refused(services: Services) -> None:
    port = free_port()
    services.start(config.parse(dns_config(port)))
    assert ask(port, "www.example.test").answers == [(1, "198.18.1.10")]
    assert ask(port, "cdn.example.test", 28).answers == [(28, "2001:db8::11")]
    assert ask(port, "example.test", 16).answers == [(16, "v=lab|second")]
    missing = ask(port, "nope.example.test")
    assert (missing.rcode, missing.answers, missing.authority) == (dnswire.NXDOMAIN, [], [6])
    nodata = ask(port, "www.example.test", 28)  # the name exists, no AAAA
    assert (nodata.rcode, nodata.answers, nodata.authority) == (dnswire.NOERROR, [], [6])
    between = ask(port, "down.example.test")  # an empty non-terminal exists too
    assert between.rcode == dnswire.NOERROR
    assert ask(port, "test", 6).answers == [(6, "")]
    outside = ask(port, "example.org")
    assert outside.rcode == dnswire.REFUSED and not outside.flags & 0x0400
    assert ask(port, "www.example.test", edns=False).additional == []


def test_dns_keeps_the_case_of_the_question_and_answers_over_tcp(services: Services) -> None:
    port = free_port()
    services.start(config.parse(dns_config(port)))
    reply = ask(port, "WwW.ExAmPlE.tEsT")
    assert reply.answers == [(1, "198.18.1.10")]
    assert b"WwW" in reply.question and b"ExAmPlE" in reply.question
    assert ask_tcp(port, "www.example.test").answers == [(1, "198.18.1.10")]
    assert ask_tcp(port, "nope.test").rcode == dnswire.NXDOMAIN


@pytest.mark.parametrize(
    ("rule", "rcode", "answers"),
    [
        ({"mode": "lie", "address": "198.18.66.6"}, dnswire.NOERROR, [(1, "198.18.66.6")]),
        ("bogon", dnswire.NOERROR, [(1, "127.0.0.1")]),
        ({"mode": "bogon", "address": "10.10.34.35"}, dnswire.NOERROR, [(1, "10.10.34.35")]),
        ("nxdomain", dnswire.NXDOMAIN, []),
        ("servfail", dnswire.SERVFAIL, []),
    ],
    ids=["lie", "bogon", "bogon-10", "nxdomain", "servfail"],
)
def test_tampering_after_a_reload(
    services: Services, rule: object, rcode: int, answers: list[tuple[int, str]]
) -> None:
    port = free_port()
    services.start(config.parse(dns_config(port)))
    assert ask(port, "media.chat.test").answers == [(1, "198.18.2.11")]
    services.reload(config.parse(dns_config(port, tamper={"chat.test": rule})))
    for name in ("chat.test", "media.chat.test"):  # a rule covers the names under it
        reply = ask(port, name)
        assert (reply.rcode, reply.answers) == (rcode, answers)
        assert ask_tcp(port, name).answers == answers
    assert ask(port, "www.example.test").answers == [(1, "198.18.1.10")]  # control untouched
    services.reload(config.parse(dns_config(port)))  # heal
    assert ask(port, "chat.test").answers == [(1, "198.18.2.10")]


def test_drop_gives_no_answer(services: Services) -> None:
    port = free_port()
    services.start(config.parse(dns_config(port, tamper={"chat.test": "drop"})))
    with pytest.raises(TimeoutError):
        ask(port, "chat.test", timeout=0.3)
    assert ask(port, "www.example.test").answers == [(1, "198.18.1.10")]


def test_inject_races_a_forged_reply_ahead_of_the_genuine_one(services: Services) -> None:
    port = free_port()
    rule = {"mode": "inject", "address": "198.18.66.6"}
    services.start(config.parse(dns_config(port, tamper={"chat.test": rule})))
    replies = ask_all(port, "chat.test")
    assert [r.answers for r in replies] == [[(1, "198.18.66.6")], [(1, "198.18.2.10")]]
    assert ask_tcp(port, "chat.test").answers == [(1, "198.18.66.6")]


def test_an_injector_answers_for_an_address_that_runs_no_resolver(services: Services) -> None:
    port = free_port()
    healthy = dns_config(port)
    services.start(config.parse(healthy))
    assert ask_all(port, "chat.test", host=NOWHERE, wait=0.3) == []
    injector = {"listen": NOWHERE, "port": port, "address": "198.18.66.6", "names": ["chat.test"]}
    services.reload(config.parse({**healthy, "dns_injector": [injector]}))
    injected = ask_all(port, "media.chat.test", host=NOWHERE, wait=0.3)
    assert [r.answers for r in injected] == [[(1, "198.18.66.6")]]
    assert not injected[0].flags & 0x0400  # not authoritative: it is no server of the zone
    assert ask_all(port, "www.example.test", host=NOWHERE, wait=0.3) == []  # not a trigger
    assert ask(port, "chat.test").answers == [(1, "198.18.2.10")]  # the resolver is honest
    services.reload(config.parse(healthy))  # heal: the injector's socket closes
    assert ask_all(port, "chat.test", host=NOWHERE, wait=0.3) == []


def test_dns_listens_on_ipv6_loopback(services: Services) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("::1", 0))
        except OSError:
            pytest.skip("no ::1 on this machine")
        port = probe.getsockname()[1]
    entry = dns_config(port)["dns"][0]
    services.start(config.parse({"dns": [{**entry, "listen": "::1", "tcp": False}]}))
    assert services.labels() == [f"dns [::1]:{port}/udp"]
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(query_bytes("cdn.example.test", 28), ("::1", port))
        assert decode(sock.recv(65535)).answers == [(28, "2001:db8::11")]


def test_interoperates_with_dig(services: Services) -> None:
    dig = subprocess.run(["which", "dig"], capture_output=True, check=False).stdout.strip()
    # installed by `make` (debian-packages.txt): a missing dig is a broken setup
    assert dig, "dig is not installed (Debian: bind9-dnsutils, in debian-packages.txt)"
    port = free_port()
    services.start(config.parse(dns_config(port)))
    for transport in ("+notcp", "+tcp"):
        out = subprocess.run(
            [dig, f"@{LOOPBACK}", "-p", str(port), transport, "+tries=1", "+time=2",
             "cdn.example.test", "A"],
            capture_output=True, check=True, text=True,
        ).stdout  # fmt: skip
        assert "status: NOERROR" in out and "WARNING" not in out
        assert "cdn.example.test.\t60\tIN\tA\t198.18.1.11" in out


# --- HTTP and TLS -----------------------------------------------------------------------


def get(port: int, host: str, path: str = "/") -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def raw_request(port: int, host: str) -> bytes:
    with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        return data


def test_http_serves_the_body_of_the_host(services: Services, pki: LabCA) -> None:
    port = free_port()
    services.start(config.parse(web_config(pki, port, free_port()), base=pki.directory))
    status, body, headers = get(port, "www.example.test")
    assert (status, body, headers["Server"]) == (200, b"www body\n", "meshkeeper-lab")
    assert get(port, "CHAT.test:80")[:2] == (200, b"chat body\n")
    assert get(port, "unknown.test")[0] == 404
    status, body, _ = get(port, "www.example.test", "/bytes/100000")
    assert (status, len(body)) == (200, 100000)
    assert get(port, "www.example.test", f"/bytes/{(1 << 20) + 1}")[0] == 400


def test_http_block_page_and_reset_after_a_reload(services: Services, pki: LabCA) -> None:
    port, tls_port = free_port(), free_port()
    services.start(config.parse(web_config(pki, port, tls_port), base=pki.directory))
    blocking = web_config(
        pki, port, tls_port, http={"chat.test": "blockpage", "www.example.test": "reset"}
    )
    services.reload(config.parse(blocking, base=pki.directory))
    status, body, _ = get(port, "media.chat.test")
    assert status == 451 and b"blocked" in body
    with pytest.raises(ConnectionResetError):
        raw_request(port, "www.example.test")
    assert get(port, "unknown.test")[0] == 404


def tls_client(pki_or_cafile: LabCA | Path) -> ssl.SSLContext:
    cafile = pki_or_cafile.ca_cert if isinstance(pki_or_cafile, LabCA) else pki_or_cafile
    context = ssl.create_default_context(cafile=str(cafile))
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # the default from Python 3.13 on
    return context


def tls_get(context: ssl.SSLContext, port: int, name: str) -> tuple[dict[str, Any], bytes]:
    with (
        socket.create_connection((LOOPBACK, port), timeout=2) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        certificate = tls.getpeercert()
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(4096):
            data += chunk
    return dict(certificate or {}), data


def test_tls_chooses_the_certificate_by_sni(services: Services, pki: LabCA) -> None:
    port = free_port()
    services.start(config.parse(web_config(pki, free_port(), port), base=pki.directory))
    client = tls_client(pki)
    certificate, data = tls_get(client, port, "www.example.test")
    assert ("DNS", "www.example.test") in certificate["subjectAltName"]
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"www body\n")
    certificate, data = tls_get(client, port, "chat.test")
    assert ("DNS", "chat.test") in certificate["subjectAltName"]
    assert data.endswith(b"chat body\n")
    assert ("DNS", "*.chat.test") in tls_get(client, port, "media.chat.test")[0]["subjectAltName"]


def test_tls_fails_verification_for_a_wrong_name_or_authority(
    services: Services, pki: LabCA, tmp_path: Path
) -> None:
    port = free_port()
    services.start(config.parse(web_config(pki, free_port(), port), base=pki.directory))
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        tls_get(tls_client(pki), port, "other.test")  # gets the default certificate
    stranger = LabCA(tmp_path / "other-ca").ensure()
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        tls_get(tls_client(stranger), port, "www.example.test")


def test_tls_sni_block_resets_before_the_handshake(services: Services, pki: LabCA) -> None:
    port = free_port()
    services.start(config.parse(web_config(pki, free_port(), port), base=pki.directory))
    blocking = web_config(pki, free_port(), port, tls={"chat.test": "reset"})
    services.reload(config.parse(blocking, base=pki.directory))
    client = tls_client(pki)
    with pytest.raises(ConnectionResetError):
        tls_get(client, port, "media.chat.test")
    assert tls_get(client, port, "www.example.test")[1].endswith(b"www body\n")  # control SNI


def test_client_hello_sni_from_a_real_hello() -> None:
    def hello(server_hostname: str | None) -> bytes:
        context = ssl.create_default_context()
        if server_hostname is None:
            context.check_hostname = False
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        connection = context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
        with pytest.raises(ssl.SSLWantReadError):
            connection.do_handshake()
        return outgoing.read()

    data = hello("Media.Chat.Test")
    assert client_hello_sni(data) == "media.chat.test"
    for cut in (3, 5, len(data) - 1):
        with pytest.raises(NeedMore):
            client_hello_sni(data[:cut])
    assert client_hello_sni(hello(None)) is None
    assert client_hello_sni(b"GET / HTTP/1.1\r\nHost: chat.test\r\n\r\n") is None


# --- reload, concurrency, echo ---------------------------------------------------------------


def test_a_bad_reload_changes_nothing(services: Services, pki: LabCA, tmp_path: Path) -> None:
    port, http_port = free_port(), free_port()
    healthy = {**dns_config(port), "http": [{"listen": LOOPBACK, "port": http_port}]}
    services.start(config.parse(healthy))
    broken = web_config(pki, http_port, free_port())  # the tls entry's files are not in tmp_path
    broken["dns"] = dns_config(port, tamper={"www.example.test": "nxdomain"})["dns"]
    with pytest.raises(CertificateError, match="cannot load the certificate"):
        services.reload(config.parse(broken, base=tmp_path))
    assert ask(port, "www.example.test").answers == [(1, "198.18.1.10")]
    changed_kind = {**dns_config(port), "tcp_echo": [{"listen": LOOPBACK, "port": http_port}]}
    with pytest.raises(
        ConfigError, match="is a http listener and the new config makes it tcp_echo"
    ):
        services.reload(config.parse(changed_kind))
    assert get(http_port, "www.example.test")[0] == 404


def test_a_listener_that_cannot_bind_is_an_error(services: Services) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenError, match=rf"tcp_echo 127\.0\.0\.1:{port}/tcp: cannot listen"):
            services.start(config.parse({"tcp_echo": [{"listen": LOOPBACK, "port": port}]}))
    assert services.labels() == []


def test_echo_and_a_bounded_number_of_connections(services: Services) -> None:
    port = free_port()
    services.start(
        config.parse({"max_concurrent": 1, "tcp_echo": [{"listen": LOOPBACK, "port": port}]})
    )
    with socket.create_connection((LOOPBACK, port), timeout=2) as first:
        first.sendall(b"ping")
        assert first.recv(16) == b"ping"  # its thread is running now
        with socket.create_connection((LOOPBACK, port), timeout=2) as second:
            assert second.recv(16) == b""  # shed: closed at once, not queued
    deadline = time.monotonic() + 2
    while True:  # the slot frees as soon as the first handler notices the close
        with socket.create_connection((LOOPBACK, port), timeout=2) as third:
            third.sendall(b"pong")
            if third.recv(16) == b"pong" or time.monotonic() > deadline:
                break
    assert time.monotonic() <= deadline


def test_log_values_cannot_split_a_line() -> None:
    assert events.clean('evil\nname" forged=1') == '"evil\\x0aname\\" forged=1"'
    assert events.clean("plain.test") == "plain.test"
    assert events.clean("") == '""'


# --- the lab CA --------------------------------------------------------------------------------


def test_ca_is_idempotent_and_keeps_keys_private(tmp_path: Path) -> None:
    ca = LabCA(tmp_path / "pki")
    first = ca.issue("www", ["www.example.test", "198.18.1.10"])
    stamps = {p: p.stat().st_mtime_ns for p in (ca.ca_cert, ca.ca_key, first.cert, first.key)}
    again = ca.issue("www", ["WWW.example.test.", "198.18.1.10"])
    assert again == first
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    for key in (ca.ca_key, first.key):
        assert key.stat().st_mode & 0o777 == 0o600
    renamed = ca.issue("www", ["www.example.test", "api.example.test"])  # other names: anew
    assert renamed.cert.stat().st_mtime_ns != stamps[first.cert]
    ca.ca_key.unlink()  # a new CA: every certificate it did not sign is made anew
    ca.ensure()
    cert_before = renamed.cert.read_bytes()
    ca.issue("www", ["www.example.test", "api.example.test"])
    assert renamed.cert.read_bytes() != cert_before
    verify = subprocess.run(
        ["openssl", "verify", "-x509_strict", "-CAfile", str(ca.ca_cert), str(renamed.cert)],
        capture_output=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr


def test_ca_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ca_main([str(tmp_path), "www", "www.example.test"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"ca {tmp_path / 'ca.crt'}",
        f"cert {tmp_path / 'www.crt'}",
        f"key {tmp_path / 'www.key'}",
    ]
    assert ca_main([str(tmp_path), "www", "bad name"]) == 1
    assert "'bad name' is not a DNS name" in capsys.readouterr().err
    assert ca_main([str(tmp_path)]) == 2


@pytest.mark.parametrize(
    ("label", "names", "message"),
    [
        ("www", [], "a certificate needs at least one name"),
        ("www", ["a.test,DNS:evil.test"], "'a.test,DNS:evil.test' is not a DNS name or IP address"),
        ("www", ["a.test\nsubjectAltName=x"], "is not a DNS name or IP address"),
        ("../etc", ["a.test"], "certificate label '../etc'"),
    ],
)
def test_ca_rejects_names_before_openssl_sees_them(
    tmp_path: Path, label: str, names: list[str], message: str
) -> None:
    with pytest.raises(CertificateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LabCA(tmp_path).issue(label, names)
    assert not (tmp_path / "ca.key").exists()


# --- the program: signals ----------------------------------------------------------------------


class Program:
    """`python -m lab.services.serve` as the lab runs it, with its log lines in a queue."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lab.services.serve", "--config", str(path)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, word: str, also: str = "", timeout: float = 10.0) -> str:
        """The next log line of event `word` (holding `also`); lines are logged as they happen."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.log.append(line)
            if f" {word} " in f"{line} " and also in line:
                return line
        raise AssertionError(f"no {word!r} in the log: {self.log}")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)
        if self.process.stderr is not None:
            self.process.stderr.close()


def test_program_reloads_on_sighup_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "services.json"
    path.write_text(json.dumps(dns_config(port)), encoding="utf-8")
    program = Program(path)
    try:
        program.wait_for("ready")
        assert ask(port, "chat.test").answers == [(1, "198.18.2.10")]
        lie = {"chat.test": {"mode": "lie", "address": "198.18.66.6"}}
        path.write_text(json.dumps(dns_config(port, tamper=lie)), encoding="utf-8")
        program.signal(signal.SIGHUP)
        program.wait_for("reloaded")
        assert ask(port, "chat.test").answers == [(1, "198.18.66.6")]
        assert "198.18.66.6" in program.wait_for("dns.query", also="tamper=lie")
        path.write_text('{"dns": [{"listen": "127.0.0.1", "zone": {}}]}', encoding="utf-8")
        program.signal(signal.SIGHUP)
        rejected = program.wait_for("reload.rejected")
        assert "unknown key 'zone'" in rejected and "kept=" in rejected
        assert ask(port, "chat.test").answers == [(1, "198.18.66.6")]  # still the running config
        started = time.monotonic()
        program.signal(signal.SIGTERM)
        assert program.process.wait(5) == 0
        assert time.monotonic() - started < 3
        program.wait_for("stopped")
        assert all("Traceback" not in line for line in program.log)
    finally:
        program.close()


def test_program_reports_a_bad_config_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    path.write_text('{"http": [{"listen": "127.0.0.1", "port": 70000}]}', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "lab.services.serve", "--config", str(path), "--check"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "ERROR http[0].port: 70000 is out of range — use 1 to 65535"
    )
    assert len(result.stderr.strip().splitlines()) == 1
