"""What the lab's DNS servers answer, and their UDP and TCP servers.

A `Resolver` stands in for a resolver: authoritative for its zones (an
answer, an empty answer, or NXDOMAIN with the zone's SOA), REFUSED for other
names, and tampered with when a fault says so. An `Injector` stands on an
address that runs no resolver and answers only what a censor would forge.
`respond` is a pure function of the settings and the query; the servers
around it only move bytes.
"""

from __future__ import annotations

import ipaddress
import socketserver
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lab.services import dnswire, events
from lab.services.config import DnsInjector, DnsService, TamperRule
from lab.services.dnswire import ANY, CLASS_IN, Query, Record
from lab.services.names import IPAddress, most_specific

# Between a forged reply and the genuine one: the injector is on the path, nearer the client.
INJECT_GAP_SECONDS = 0.05
TCP_IDLE_SECONDS = 10.0


@dataclass(frozen=True)
class Verdict:
    """The replies to send in order (none: stay silent) and what to log about them."""

    replies: tuple[bytes, ...]
    outcome: str
    tamper: str | None = None


class Responder(Protocol):
    def respond(self, query: Query, *, tcp: bool) -> Verdict: ...


class Resolver:
    """The answers of one `dns` entry of the config."""

    def __init__(self, service: DnsService) -> None:
        self.service = service
        self._existing = set(service.zones)
        for name in (*service.records, *service.txt):
            labels = name.split(".")
            self._existing.update(".".join(labels[i:]) for i in range(len(labels)))

    def respond(self, query: Query, *, tcp: bool) -> Verdict:
        limit = None if tcp else query.udp_limit()
        if query.edns is not None and query.edns.version != 0:
            return _verdict(query, dnswire.BADVERS, limit=limit)
        if query.question.qclass != CLASS_IN:
            return _verdict(query, dnswire.REFUSED, limit=limit, authoritative=False)
        name = query.question.name
        rule_name = most_specific(self.service.tamper, name)
        if rule_name is None:
            return self._genuine(query, limit)
        rule = self.service.tamper[rule_name]
        verdict = self._tampered(query, rule, tcp=tcp, limit=limit)
        return Verdict(verdict.replies, verdict.outcome, tamper=rule.mode)

    def _genuine(self, query: Query, limit: int | None) -> Verdict:
        name, qtype = query.question.name, query.question.qtype
        zone = most_specific(dict.fromkeys(self.service.zones), name)
        if zone is None:
            return _verdict(query, dnswire.REFUSED, limit=limit, authoritative=False)
        ttl = self.service.ttl
        answers = [
            dnswire.address_record(address, ttl)
            for address in self.service.records.get(name, ())
            if qtype == ANY or qtype == (dnswire.A if address.version == 4 else dnswire.AAAA)
        ]
        if name in self.service.txt and qtype in (dnswire.TXT, ANY):
            answers.append(dnswire.txt_record(self.service.txt[name], ttl))
        if name == zone and qtype in (dnswire.SOA, ANY):
            answers.append(dnswire.soa_record(zone, ttl))
        if answers:
            return _verdict(query, dnswire.NOERROR, answers, limit=limit)
        rcode = dnswire.NOERROR if name in self._existing else dnswire.NXDOMAIN
        return _verdict(query, rcode, authority=[dnswire.soa_record(zone, ttl)], limit=limit)

    def _tampered(self, query: Query, rule: TamperRule, *, tcp: bool, limit: int | None) -> Verdict:
        if rule.mode == "drop":
            return Verdict((), "silent")
        if rule.mode == "servfail":
            return _verdict(query, dnswire.SERVFAIL, limit=limit, authoritative=False)
        if rule.mode == "nxdomain":
            return _verdict(query, dnswire.NXDOMAIN, limit=limit)
        assert rule.address is not None  # noqa: S101  # config guarantees it for lie, bogon, inject
        forged = _forged(query, rule.address, self.service.ttl, limit)
        if rule.mode != "inject" or tcp:
            return forged
        genuine = self._genuine(query, limit)
        return Verdict(forged.replies + genuine.replies, f"{forged.outcome} then {genuine.outcome}")


class Injector:
    """The answers of one `dns_injector` entry: forged for its names, silence otherwise."""

    def __init__(self, injector: DnsInjector) -> None:
        self.injector = injector

    def respond(self, query: Query, *, tcp: bool) -> Verdict:
        name, names = query.question.name, self.injector.names
        wanted = _address_type(self.injector.address)
        if query.question.qtype not in (wanted, ANY) or (
            names and most_specific(dict.fromkeys(names), name) is None
        ):
            return Verdict((), "silent")
        answer = dnswire.address_record(self.injector.address, self.injector.ttl)
        limit = None if tcp else query.udp_limit()
        verdict = _verdict(query, dnswire.NOERROR, [answer], limit=limit, authoritative=False)
        return Verdict(verdict.replies, verdict.outcome, tamper="inject")


def answer(responder: Responder, data: bytes, *, tcp: bool) -> tuple[Query | None, Verdict]:
    """The query in `data` (None if it is not one) and the verdict on it."""
    try:
        query = dnswire.parse_query(data)
    except dnswire.BadQuery as exc:
        if exc.rcode is None:
            return None, Verdict((), f"silent ({exc})")
        name = dnswire.RCODE_NAMES[exc.rcode]
        return None, Verdict((dnswire.error_response(exc),), f"{name} ({exc})")
    return query, responder.respond(query, tcp=tcp)


def _forged(query: Query, address: IPAddress, ttl: int, limit: int | None) -> Verdict:
    if query.question.qtype not in (_address_type(address), ANY):
        return _verdict(query, dnswire.NOERROR, limit=limit)
    return _verdict(query, dnswire.NOERROR, [dnswire.address_record(address, ttl)], limit=limit)


def _address_type(address: IPAddress) -> int:
    return dnswire.A if address.version == 4 else dnswire.AAAA


def _verdict(
    query: Query,
    rcode: int,
    answers: Sequence[Record] = (),
    authority: Sequence[Record] = (),
    *,
    limit: int | None,
    authoritative: bool = True,
) -> Verdict:
    wire = dnswire.response(
        query, rcode, answers, authority, authoritative=authoritative, limit=limit
    )
    shown = [_shown(r) for r in answers]
    return Verdict((wire,), " ".join([dnswire.RCODE_NAMES.get(rcode, str(rcode)), *shown]))


def _shown(record: Record) -> str:
    if record.rtype in (dnswire.A, dnswire.AAAA):
        return str(ipaddress.ip_address(record.rdata))
    return dnswire.TYPE_NAMES.get(record.rtype, str(record.rtype))


# --- servers ---------------------------------------------------------------------------


def _log(server: Any, peer: Any, query: Query | None, verdict: Verdict) -> None:
    question = query.question if query is not None else None
    events.log(
        "dns.query",
        listener=server.label,
        peer=peer[0],
        name=question.name if question else None,
        type=question.type_name if question else None,
        answer=verdict.outcome,
        tamper=verdict.tamper,
    )


class UdpHandler(socketserver.BaseRequestHandler):
    """One datagram: answer it (inject: two replies, the forged one first)."""

    def handle(self) -> None:
        data, sock = self.request
        server: Any = self.server
        responder: Responder = server.settings
        query, verdict = answer(responder, data, tcp=False)
        for i, reply in enumerate(verdict.replies):
            if i:
                time.sleep(INJECT_GAP_SECONDS)
            sock.sendto(reply, self.client_address)
        _log(server, self.client_address, query, verdict)


class TcpHandler(socketserver.StreamRequestHandler):
    """Length-prefixed queries on one connection until the client closes or idles."""

    timeout = TCP_IDLE_SECONDS

    def handle(self) -> None:
        server: Any = self.server
        while True:
            try:
                data = self._read_message()
            except (TimeoutError, ConnectionError):
                return
            if data is None:
                return
            responder: Responder = server.settings
            query, verdict = answer(responder, data, tcp=True)
            for reply in verdict.replies:  # one at most: respond(tcp=True) never races
                self.wfile.write(struct.pack("!H", len(reply)) + reply)
            _log(server, self.client_address, query, verdict)

    def _read_message(self) -> bytes | None:
        prefix = self.rfile.read(2)
        if len(prefix) < 2:
            return None
        (length,) = struct.unpack("!H", prefix)
        data = self.rfile.read(length)
        return data if len(data) == length else None
