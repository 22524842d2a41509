"""`dns`: ask resolvers over UDP and hold their answers against the inventory.

Two kinds of target (../shared/FIELD-NOTES.md, "Shutdown and censorship measurement"):

- a resolver (no host): asked for the control name and every watched name
  (Settings.expected). ok when it replies at all, whatever the rcode, and
  tampers with none of them.
- a name (a host): asked of every resolver on this path (Settings.resolvers).
  ok when one of them answers the inventory's address, or one a TLS handshake
  proves genuine, and none tampers.

Tampering, worst first: two different replies to one query (`dns_injection`,
an injector raced the resolver); a bogon the inventory does not expect
(`dns_bogon_error`); an address not the inventory's that fails a verified TLS
handshake for the name (`dns_wrong_answer`): cryptography tells a CDN that
moved from a liar, the control a cut-off network still has. A name the
inventory gives no address is judged on the first two only. NXDOMAIN, SERVFAIL
and REFUSED are recorded, not called tampering: the verdict holds them against
its controls.

All queries leave at once, one connected socket per resolver bound to the
path; after a query's first reply the probe listens LINGER more for a second.
All of it, TLS proofs included, within Request.timeout. `value` is the fastest
reply's round-trip time in seconds.
"""

from __future__ import annotations

import ipaddress
import selectors
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agent.config import Target
from agent.probes import base
from agent.probes.base import Request, Result, failure_of, result
from agent.readers import dnswire
from agent.readers.dnswire import Reply

PORT = 53  # a resolver target's `port`, when set, wins (tests use a high port)
TLS_PORT = 443  # where an unexpected answer is asked to prove itself
LINGER = 0.2  # seconds to wait for a second, injected or genuine, reply
PROOF_RESERVE = 0.5  # at most this (and a third of the budget) is kept for TLS proofs
UDP_HEADERS = 28  # IPv4 + UDP, added to every datagram's payload in the byte counts
PROOF_SENT, PROOF_RECEIVED = 700, 3000  # a TCP + TLS handshake, roughly
MAX_DATAGRAM = 4096  # we send no EDNS, so a resolver's reply fits in 512 bytes
MAX_REPLIES = 4  # distinct replies kept per query: two prove injection
MAX_BURST = 64  # datagrams read from one socket between looks at the clock
BOGONS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
    )
)  # fmt: skip  # not 100.64.0.0/10: ISPs' resolvers and gateways live there
TAMPERING = ("dns_injection", "dns_bogon_error", "dns_wrong_answer")  # worst first
RCODE_FAILURES = {  # unless every resolver said NXDOMAIN: the first of these said
    "SERVFAIL": "dns_servfail_error",
    "REFUSED": "dns_refused_error",
    "NODATA": "dns_no_answer",
}


@dataclass
class Exchange:
    """One name asked of one resolver, and what came of it."""

    resolver: Target
    host: str
    expected: str | None  # the inventory's address for `host`, if it has one
    ident: int = 0
    asked_at: float = 0.0
    first_at: float | None = None
    replies: list[Reply] = field(default_factory=list)  # distinct ones, in arrival order
    error: str = ""  # a socket error's failure string
    proof: str | None = None  # None: no TLS proof tried; "": verified; else its failure

    def status(self, *, proving: bool = False) -> str:
        """good, a TAMPERING failure, an rcode name or NODATA, or why nothing came."""
        if not self.replies:
            return self.error or "generic_timeout_error"
        if len(self.replies) > 1:
            return "dns_injection"
        reply = self.replies[0]
        if reply.rcode != dnswire.NOERROR or not reply.addresses:
            return reply.summary
        if any(is_bogon(a) and a != self.expected for a in reply.addresses):
            return "dns_bogon_error"
        if self.expected is None or self.expected in reply.addresses or self.proof == "":
            return "good"
        return "unproven" if proving else "dns_wrong_answer"

    def needs_proof(self) -> bool:
        return self.proof is None and self.status(proving=True) == "unproven"

    def shown(self) -> str:
        """What came back, for `detail`: 198.18.2.10|198.18.2.11, NXDOMAIN, a+b if two."""
        if not self.replies:
            return self.error or "timeout"
        return "+".join(r.summary for r in self.replies)


def is_bogon(address: str) -> bool:
    ip = ipaddress.ip_address(address)  # from inet_ntop: always an address
    return any(ip.version == net.version and ip in net for net in BOGONS)


def probe(request: Request) -> Result:
    started = time.monotonic()
    target, settings = request.target, request.settings
    if target.host is None:  # a resolver: every name we watch, asked of it
        names = [*([settings.control_host] if settings.control_host else []), *settings.expected]
        names = names if target.address else []
        exchanges = [Exchange(target, n, settings.expected.get(n)) for n in dict.fromkeys(names)]
    else:  # a name: asked of every resolver (with an address: "" would be this host)
        expected = target.address or settings.expected.get(target.host)
        resolvers = [r for r in settings.resolvers if r.address]
        exchanges = [Exchange(r, target.host, expected) for r in resolvers]
    if not exchanges:
        why = "no name to ask" if target.host is None else "no resolver to ask"
        return result(request, started, ok=False, failure="unknown_failure", evidence=why)
    asking = _Asking(request, started, exchanges)
    asking.ask()
    asking.prove()
    judge = _judge_resolver if target.host is None else _judge_name
    ok, failure, evidence, detail = judge(request, exchanges)
    proofs = [
        f"{e.host}@{e.replies[0].addresses[0]}={e.proof or 'verified'}"
        for e in exchanges
        if e.proof is not None
    ]
    if proofs:
        detail["proof"] = ",".join(dict.fromkeys(proofs))
    times = [e.first_at - e.asked_at for e in exchanges if e.first_at is not None]
    return result(
        request,
        started,
        ok=ok,
        failure=failure,
        value=min(times) if times else None,  # the fastest reply, seconds
        evidence=evidence,
        detail={key: base.printable(value, 200) for key, value in detail.items()},
        sent=asking.sent,
        received=asking.received,
    )


Judged = tuple[bool, str, str, dict[str, str]]  # ok, failure, evidence, detail


def _judge_resolver(request: Request, exchanges: Sequence[Exchange]) -> Judged:
    target = request.target
    answers = ",".join(f"{e.host}={e.shown()}" for e in exchanges)
    detail = {"resolver": target.name, "answers": answers}
    nxdomain = [e.host for e in exchanges if e.status() == "NXDOMAIN"]
    if nxdomain:  # the name may be gone, or blocked upstream: the verdict's question
        detail["nxdomain"] = ",".join(nxdomain)
    tampered = [e for e in exchanges if e.status() in TAMPERING]
    if tampered:
        detail["tampered"] = ",".join(e.host for e in tampered)
        return _tampering(tampered, detail)
    answered = sum(1 for e in exchanges if e.replies)
    if not answered:
        where, failure = f"{target.address}:{target.port or PORT}", _silence(exchanges)
        if failure == "generic_timeout_error":
            return False, failure, f"no reply from {where} in {request.timeout:g} s", detail
        return False, failure, f"no reply from {where}: {failure}", detail
    return True, "", f"replied for {answered} of {len(exchanges)} names", detail


def _judge_name(request: Request, exchanges: Sequence[Exchange]) -> Judged:
    host, expected = exchanges[0].host, exchanges[0].expected
    answers = ",".join(f"{e.resolver.name}={e.shown()}" for e in exchanges)
    detail = {"host": host, "answers": answers, **({"expected": expected} if expected else {})}
    tampered = [e for e in exchanges if e.status() in TAMPERING]
    if tampered:
        detail["resolver"] = ",".join(e.resolver.name for e in tampered)
        return _tampering(tampered, detail)
    good = next((e for e in exchanges if e.status() == "good"), None)
    if good is not None:
        return True, "", f"{good.resolver.name} answered {good.shown()} for {host}", detail
    said = [e.status() for e in exchanges if e.replies]
    if not said:
        return False, _silence(exchanges), f"no resolver replied for {host}", detail
    if all(s == "NXDOMAIN" for s in said):
        failure = "dns_nxdomain_error"
    else:
        failure = next((f for s, f in RCODE_FAILURES.items() if s in said), "unknown_failure")
    return False, failure, f"no address for {host}: {', '.join(sorted(set(said)))}", detail


def _tampering(tampered: Sequence[Exchange], detail: dict[str, str]) -> Judged:
    e = min(tampered, key=lambda e: TAMPERING.index(e.status()))
    status, said = e.status(), f"{e.resolver.name} answered {e.shown()} for {e.host}"
    if status == "dns_injection":
        said = f"{e.resolver.name} sent {len(e.replies)} different replies for {e.host}: "
        said += " then ".join(r.summary for r in e.replies)
    elif status == "dns_bogon_error":
        said += ", a bogon"
    else:
        said += f", expected {e.expected}"
    return False, status, said, detail


def _silence(exchanges: Sequence[Exchange]) -> str:
    """The socket error every query met, if they met one; else a timeout."""
    errors = {e.error for e in exchanges}
    return errors.pop() if len(errors) == 1 and "" not in errors else "generic_timeout_error"


# --- the wire -------------------------------------------------------------------------


class _Asking:
    """One probe's queries: sent at once, replies read until each has lingered, or time is up;
    then the TLS proofs. Counts the bytes both ways."""

    def __init__(self, request: Request, started: float, exchanges: list[Exchange]) -> None:
        self.request, self.started, self.exchanges = request, started, exchanges
        self.sent = self.received = 0
        self.selector = selectors.DefaultSelector()

    def ask(self) -> None:
        groups: dict[int, list[Exchange]] = {}
        for e in self.exchanges:
            groups.setdefault(id(e.resolver), []).append(e)
        try:
            for group in groups.values():
                self._send(group)
            while (left := self._until() - time.monotonic()) > 0:
                for key, _ in self.selector.select(left):
                    self._receive(key.fileobj, key.data)  # type: ignore[arg-type]
        finally:
            for key in list(self.selector.get_map().values()):
                self.selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
            self.selector.close()

    def _send(self, group: list[Exchange]) -> None:
        """One resolver's queries on one connected socket, so its ICMP errors come back."""
        address, port = group[0].resolver.address or "", group[0].resolver.port or PORT
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            base.bind(sock, self.request.path)
            sock.setblocking(False)
            sock.connect((address, port))
        except OSError as exc:
            self._fail(sock, group, exc)
            return
        queries: dict[int, Exchange] = {}
        self.selector.register(sock, selectors.EVENT_READ, queries)
        for e in group:
            try:
                e.ident, wire = dnswire.a_query(e.host)
                while e.ident in queries:  # names asked of one resolver never share an id
                    e.ident, wire = dnswire.a_query(e.host)
            except dnswire.BadName:
                e.error = "unknown_failure"
                continue
            queries[e.ident], e.asked_at = e, time.monotonic()
            try:
                sock.send(wire)
            except OSError as exc:  # an ICMP error for the query before: port unreachable
                self._fail(sock, group, exc)
                return
            self.sent += len(wire) + UDP_HEADERS

    def _fail(self, sock: socket.socket, group: Iterable[Exchange], exc: OSError) -> None:
        """A socket error ends every query to that resolver still unanswered."""
        for e in group:
            e.error = e.error if e.replies else failure_of(exc)
        if sock in self.selector.get_map():
            self.selector.unregister(sock)
        sock.close()

    def _receive(self, sock: socket.socket, queries: dict[int, Exchange]) -> None:
        for _ in range(MAX_BURST):  # then back to the clock: a flood cannot hold us here
            try:
                data = sock.recv(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError as exc:  # an ICMP error for a query: port or host unreachable
                self._fail(sock, queries.values(), exc)
                return
            self.received += len(data) + UDP_HEADERS
            try:
                reply = dnswire.parse_reply(data)
            except dnswire.MalformedReply:
                continue  # noise, not an answer: the genuine reply may still come
            asked = queries.get(reply.ident)
            if asked is None or reply.question not in (None, dnswire.normalize(asked.host)):
                continue
            asked.first_at = time.monotonic() if asked.first_at is None else asked.first_at
            if len(asked.replies) < MAX_REPLIES and reply.summary not in (
                r.summary for r in asked.replies
            ):
                asked.replies.append(reply)

    def _until(self) -> float:
        """Every query answered and lingered, or the budget spent (less the proofs' share)."""
        end = self.started + self.request.timeout
        if any(e.needs_proof() for e in self.exchanges):
            end -= min(PROOF_RESERVE, self.request.timeout / 3)
        waiting = [e.first_at for e in self.exchanges if not e.error]
        if not waiting or None in waiting:
            return end if waiting else 0.0
        return min(end, max(first + LINGER for first in waiting if first is not None))

    def prove(self) -> None:
        """A verified TLS handshake for the name on each unexpected address, in the budget."""
        wanted = {(e.replies[0].addresses[0], e.host) for e in self.exchanges if e.needs_proof()}
        outcomes: dict[tuple[str, str], str] = {}
        for done, (address, host) in enumerate(sorted(wanted)):
            budget = base.remaining(self.started, self.request.timeout) / (len(wanted) - done)
            outcomes[(address, host)] = _handshake(address, host, self.request, budget)
            self.sent, self.received = self.sent + PROOF_SENT, self.received + PROOF_RECEIVED
        for e in self.exchanges:
            if e.needs_proof():
                e.proof = outcomes[(e.replies[0].addresses[0], e.host)]


def _handshake(address: str, host: str, request: Request, timeout: float) -> str:
    """Empty when `address` completes a verified handshake for `host`; else the failure."""
    deadline = time.monotonic() + timeout
    try:
        with base.connect(address, TLS_PORT, request.path, timeout) as sock:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            with base.tls_context(request.settings).wrap_socket(sock, server_hostname=host):
                return ""
    except OSError as exc:  # ssl.SSLError and certificate errors are OSErrors
        return failure_of(exc)
