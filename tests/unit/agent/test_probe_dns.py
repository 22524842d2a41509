"""agent/probes/dns.py against real DNS and TLS servers: the lab services, in-process.

Everything binds and connects inside 127.0.0.0/8 on high ports, no root needed:
resolvers on 127.0.0.53 and its neighbours (a Target's `port` overrides 53),
TLS proofs on dns.TLS_PORT patched to a free port. Loopback is this test's
internet, so 127.0.0.0/8 is taken out of dns.BOGONS (10.0.0.0/8 stands in for
bogons), and a guard fails any test whose probe would connect outside it.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from agent.config import Target
from agent.probes import base, dns
from agent.probes.base import Path, Request, Result, Settings
from agent.readers import dnswire
from lab.services import config
from lab.services import dnswire as lab_wire
from lab.services.ca import LabCA
from lab.services.serve import Services

RESOLVER, SECOND, THIRD = "127.0.0.53", "127.0.0.54", "127.0.0.56"
HOSTILE = "127.0.0.55"  # a hand-written server that sends junk before its answer
MOVED = "127.0.0.80"  # where a name moved to: serves its certificate
IMPOSTOR = "127.0.0.81"  # serves a certificate for another name
LIAR = "127.0.0.66"  # a forged answer: nothing listens there
TARPIT = "127.0.0.67"  # accepts TCP, never says a word
NOWHERE = "127.0.0.77"  # runs no resolver
CHAT, CHAT_AT = "chat.platform.test", "198.18.2.10"
WWW, WWW_AT = "www.platform.test", "198.18.1.10"
CONTROL, CONTROL_AT = "control.test", "198.18.0.80"
RECORDS = {CHAT: CHAT_AT, WWW: WWW_AT, CONTROL: CONTROL_AT, "v6.platform.test": "2001:db8::5"}
WATCHED = {CHAT: CHAT_AT, WWW: WWW_AT}
REAL_BOGONS = dns.BOGONS
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
SLACK = 0.3  # what a probe may take beyond its timeout


def free_port(address: str = RESOLVER, kind: socket.SocketKind = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def loopback_internet(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """127/8 as the internet: not bogons, TLS proofs on a free port, nothing outside it."""
    monkeypatch.setattr(dns, "BOGONS", tuple(n for n in REAL_BOGONS if n != LOOPBACK))
    monkeypatch.setattr(dns, "TLS_PORT", free_port(MOVED, socket.SOCK_STREAM))
    connects: list[tuple[str, int]] = []
    real = base.connect

    def guarded(address: str, port: int, path: Path, timeout: float) -> socket.socket:
        assert ipaddress.ip_address(address) in LOOPBACK, f"the probe left loopback: {address}"
        connects.append((address, port))
        return real(address, port, path, timeout)

    monkeypatch.setattr(base, "connect", guarded)
    return connects


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    ca = LabCA(tmp_path_factory.mktemp("pki"))
    ca.issue("chat", [CHAT])
    ca.issue("www", [WWW])
    return ca


def resolver(address: str, port: int, tamper: dict[str, Any] | None = None) -> dict[str, Any]:
    """A lab resolver's config entry; `tamper` maps names to tamper rules."""
    entry = {"listen": address, "port": port, "tcp": False, "zones": ["test"], "records": RECORDS}
    return {**entry, "tamper": tamper or {}}


def serve(services: Services, *entries: dict[str, Any], **extra: Any) -> None:
    services.start(config.parse({"dns": list(entries), **extra}))


def tls_entry(address: str, label: str, names: list[str]) -> dict[str, Any]:
    certificate = {"names": names, "cert": f"{label}.crt", "key": f"{label}.key"}
    return {"listen": address, "port": dns.TLS_PORT, "certificates": [certificate]}


def a_resolver(port: int, address: str = RESOLVER, name: str = "fibre-resolver") -> Target:
    return Target("isp", name, ("dns",), address=address, port=port)


def platform(host: str = CHAT, address: str | None = CHAT_AT) -> Target:
    return Target("platforms", "chat", ("dns",), address=address, host=host)


def run(target: Target, timeout: float = 1.0, **settings: Any) -> Result:
    """The probe's result, which must come within its timeout (and a little slack)."""
    request = Request("dns", target, Path("wan", isp="fibre"), timeout, Settings(**settings))
    started = time.monotonic()
    outcome = dns.probe(request)
    assert time.monotonic() - started <= timeout + SLACK
    assert outcome.ok == (outcome.failure == "")
    return outcome


# --- a resolver as the target -----------------------------------------------------------


def test_an_honest_resolver(services: Services) -> None:
    port = free_port()
    serve(services, resolver(RESOLVER, port))
    got = run(a_resolver(port), control_host=CONTROL, expected=WATCHED)
    assert got.ok, got
    assert (got.tier, got.target, got.kind, got.uplink) == ("isp", "fibre-resolver", "dns", "wan")
    assert got.detail == {
        "resolver": "fibre-resolver",
        "answers": f"{CONTROL}={CONTROL_AT},{CHAT}={CHAT_AT},{WWW}={WWW_AT}",
    }
    assert got.evidence == "replied for 3 of 3 names"
    assert got.value is not None and 0 < got.value < 0.2
    assert dns.LINGER <= got.duration < dns.LINGER + 0.3  # listened for a second reply
    queries = [len(dnswire.a_query(n)[1]) for n in (CONTROL, CHAT, WWW)]
    assert got.sent == sum(q + 28 for q in queries)
    assert got.received == sum(q + 16 + 28 for q in queries)  # each reply: one A record


def test_nxdomain_servfail_refused_for_watched_names_are_no_tampering(services: Services) -> None:
    port = free_port()
    serve(services, resolver(RESOLVER, port, {CHAT: "nxdomain", WWW: "servfail"}))
    watched = {**WATCHED, "elsewhere.example": "198.18.9.9"}  # outside the zones: REFUSED
    got = run(a_resolver(port), expected=watched)
    assert got.ok, got
    assert got.detail["nxdomain"] == CHAT
    assert "tampered" not in got.detail
    assert got.detail["answers"] == f"{CHAT}=NXDOMAIN,{WWW}=SERVFAIL,elsewhere.example=REFUSED"


def test_a_lie_is_a_wrong_answer(services: Services, loopback_internet: list[Any]) -> None:
    port = free_port()
    serve(services, resolver(RESOLVER, port, {CHAT: {"mode": "lie", "address": LIAR}}))
    got = run(a_resolver(port), control_host=CONTROL, expected=WATCHED)
    assert (got.ok, got.failure) == (False, "dns_wrong_answer")
    assert got.evidence == f"fibre-resolver answered {LIAR} for {CHAT}, expected {CHAT_AT}"
    assert got.detail["tampered"] == CHAT
    assert got.detail["proof"] == f"{CHAT}@{LIAR}=connection_refused"
    assert loopback_internet == [(LIAR, dns.TLS_PORT)]  # the proof was tried, once


def test_an_answer_proven_by_tls_is_genuine(services: Services, pki: LabCA) -> None:
    port = free_port()
    moved = {"mode": "lie", "address": MOVED}  # the name moved: the inventory is behind
    services.start(
        config.parse(
            {
                "dns": [resolver(RESOLVER, port, {CHAT: moved})],
                "tls": [tls_entry(MOVED, "chat", [CHAT])],
            },
            base=pki.directory,
        )
    )
    got = run(a_resolver(port), expected=WATCHED, ca_file=str(pki.ca_cert))
    assert got.ok, got
    assert got.detail["proof"] == f"{CHAT}@{MOVED}=verified"
    assert got.sent > dns.PROOF_SENT and got.received > dns.PROOF_RECEIVED
    # The same address, where the handshake cannot be verified: no proof, a wrong answer.
    stranger = run(a_resolver(port), expected=WATCHED)  # the system's trust store
    assert (stranger.failure, stranger.detail["proof"]) == (
        "dns_wrong_answer",
        f"{CHAT}@{MOVED}=ssl_unknown_authority",
    )


def test_a_certificate_for_another_name_proves_nothing(services: Services, pki: LabCA) -> None:
    port = free_port()
    lie = {"mode": "lie", "address": IMPOSTOR}
    services.start(
        config.parse(
            {
                "dns": [resolver(RESOLVER, port, {CHAT: lie})],
                "tls": [tls_entry(IMPOSTOR, "www", [WWW])],
            },
            base=pki.directory,
        )
    )
    got = run(a_resolver(port), expected=WATCHED, ca_file=str(pki.ca_cert))
    assert got.failure == "dns_wrong_answer"
    assert got.detail["proof"] == f"{CHAT}@{IMPOSTOR}=ssl_invalid_hostname"


def test_a_bogon_needs_no_proof(services: Services, loopback_internet: list[Any]) -> None:
    port = free_port()
    serve(services, resolver(RESOLVER, port, {CHAT: {"mode": "bogon", "address": "10.10.34.35"}}))
    got = run(a_resolver(port), expected=WATCHED)
    assert (got.failure, got.detail["tampered"]) == ("dns_bogon_error", CHAT)
    assert got.evidence == f"fibre-resolver answered 10.10.34.35 for {CHAT}, a bogon"
    assert loopback_internet == []


def test_a_bogon_is_fine_only_where_the_inventory_expects_it(services: Services) -> None:
    port = free_port()
    entry = {**resolver(RESOLVER, port), "records": {CHAT: "10.1.2.3", WWW: "10.1.2.4"}}
    serve(services, entry)
    got = run(a_resolver(port), expected={CHAT: "10.1.2.3", WWW: "10.1.2.99"})
    assert (got.failure, got.detail["tampered"]) == ("dns_bogon_error", WWW)


def test_two_replies_to_one_query_are_injection(services: Services) -> None:
    port = free_port()
    serve(services, resolver(RESOLVER, port, {CHAT: {"mode": "inject", "address": LIAR}}))
    got = run(a_resolver(port), control_host=CONTROL, expected=WATCHED)
    assert (got.failure, got.detail["tampered"]) == ("dns_injection", CHAT)
    assert got.evidence == (
        f"fibre-resolver sent 2 different replies for {CHAT}: {LIAR} then {CHAT_AT}"
    )
    assert f"{CHAT}={LIAR}+{CHAT_AT}" in got.detail["answers"]


def test_an_injector_where_no_resolver_runs(services: Services) -> None:
    port = free_port()
    injector = {"listen": NOWHERE, "port": port, "address": LIAR, "names": [CHAT]}
    serve(services, resolver(RESOLVER, port), dns_injector=[injector])
    got = run(a_resolver(port, NOWHERE), 0.6, control_host=CONTROL, expected=WATCHED)
    assert (got.failure, got.detail["tampered"]) == ("dns_wrong_answer", CHAT)
    assert got.detail["answers"] == f"{CONTROL}=timeout,{CHAT}={LIAR},{WWW}=timeout"


def test_a_silent_resolver_times_out(services: Services) -> None:
    port = free_port()
    serve(services, resolver(RESOLVER, port, {".": "drop"}))
    got = run(a_resolver(port), 0.6, control_host=CONTROL, expected=WATCHED)
    assert (got.failure, got.value) == ("generic_timeout_error", None)
    assert got.evidence == f"no reply from {RESOLVER}:{port} in 0.6 s"
    assert got.duration >= 0.6 - 0.05
    assert got.received == 0 and got.sent > 0


def test_a_resolver_that_answers_some_names_is_reachable(services: Services) -> None:
    port = free_port()
    serve(services, resolver(RESOLVER, port, {WWW: "drop"}))
    got = run(a_resolver(port), 0.6, expected=WATCHED)
    assert got.ok, got
    assert got.detail["answers"] == f"{CHAT}={CHAT_AT},{WWW}=timeout"
    assert got.evidence == "replied for 1 of 2 names"


def test_nothing_listening_is_refused_at_once() -> None:
    got = run(a_resolver(free_port(NOWHERE), NOWHERE), expected=WATCHED)
    assert got.failure == "connection_refused"
    assert got.duration < 0.2


def test_no_name_to_ask_and_an_unusable_device() -> None:
    got = run(a_resolver(free_port()))
    assert (got.failure, got.evidence) == ("unknown_failure", "no name to ask")
    request = Request(
        "dns",
        a_resolver(free_port()),
        Path("wan", device="nosuchdev0"),
        1.0,
        Settings(expected=WATCHED),
    )
    got = dns.probe(request)  # ENODEV (EPERM without root): a result, never an exception
    assert (got.ok, got.failure) == (False, "unknown_failure")
    assert got.duration < 0.2


# --- a name as the target: every resolver of the path asked ----------------------------


def two_resolvers(
    services: Services, port: int, first: Any = None, second: Any = None
) -> tuple[Target, Target]:
    entries = [resolver(RESOLVER, port), resolver(SECOND, port)]
    for entry, rule in zip(entries, (first, second), strict=True):
        if rule is not None:
            entry["tamper"] = {CHAT: rule}
    serve(services, *entries)
    return a_resolver(port, RESOLVER, "fibre-resolver"), a_resolver(port, SECOND, "intl-resolver")


def test_a_name_both_resolvers_answer(services: Services) -> None:
    resolvers = two_resolvers(services, free_port())
    got = run(platform(), resolvers=resolvers)
    assert got.ok, got
    assert got.evidence == f"fibre-resolver answered {CHAT_AT} for {CHAT}"
    assert got.detail == {
        "host": CHAT,
        "answers": f"fibre-resolver={CHAT_AT},intl-resolver={CHAT_AT}",
        "expected": CHAT_AT,
    }


def test_one_honest_resolver_is_enough_when_the_other_says_nxdomain(services: Services) -> None:
    got = run(platform(), resolvers=two_resolvers(services, free_port(), "nxdomain"))
    assert got.ok, got
    assert got.detail["answers"] == f"fibre-resolver=NXDOMAIN,intl-resolver={CHAT_AT}"


def test_one_lying_resolver_fails_the_name(services: Services) -> None:
    lie = {"mode": "lie", "address": LIAR}
    got = run(platform(), resolvers=two_resolvers(services, free_port(), None, lie))
    assert (got.failure, got.detail["resolver"]) == ("dns_wrong_answer", "intl-resolver")
    assert got.evidence == f"intl-resolver answered {LIAR} for {CHAT}, expected {CHAT_AT}"


def test_tampering_worst_first_names_every_liar(services: Services) -> None:
    port = free_port()
    entries = [resolver(RESOLVER, port), resolver(SECOND, port), resolver(THIRD, port)]
    rules = [{"mode": "lie", "address": LIAR}, {"mode": "bogon", "address": "10.0.0.1"}]
    rules.append({"mode": "inject", "address": LIAR})
    for entry, rule in zip(entries, rules, strict=True):
        entry["tamper"] = {CHAT: rule}
    serve(services, *entries)
    names = ("a", "b", "c")
    resolvers = tuple(a_resolver(port, e["listen"], n) for e, n in zip(entries, names, strict=True))
    got = run(platform(), resolvers=resolvers)
    assert (got.failure, got.detail["resolver"]) == ("dns_injection", "a,b,c")
    without_injection = run(platform(), resolvers=resolvers[:2])
    assert (without_injection.failure, without_injection.detail["resolver"]) == (
        "dns_bogon_error",
        "a,b",
    )


@pytest.mark.parametrize(
    ("first", "second", "failure"),
    [
        ("nxdomain", "nxdomain", "dns_nxdomain_error"),
        ("nxdomain", "drop", "dns_nxdomain_error"),  # every resolver that answered
        ("nxdomain", "servfail", "dns_servfail_error"),
        ("servfail", "servfail", "dns_servfail_error"),
        ("drop", "drop", "generic_timeout_error"),
    ],
)
def test_a_name_no_resolver_gives(
    services: Services, first: str, second: str, failure: str
) -> None:
    resolvers = two_resolvers(services, free_port(), first, second)
    got = run(platform(), 0.6, resolvers=resolvers)
    assert (got.ok, got.failure) == (False, failure)
    assert "resolver" not in got.detail  # nobody lied


def test_refused_and_no_a_record(services: Services) -> None:
    resolvers = two_resolvers(services, free_port())
    refused = run(platform("chat.example.org", None), resolvers=resolvers)  # not its zone
    assert refused.failure == "dns_refused_error"
    assert refused.evidence == "no address for chat.example.org: REFUSED"
    nodata = run(platform("v6.platform.test", None), resolvers=resolvers)  # AAAA only
    assert nodata.failure == "dns_no_answer"


def test_a_name_proven_genuine_at_another_address(services: Services, pki: LabCA) -> None:
    port = free_port()
    moved = {"mode": "lie", "address": MOVED}
    data = {
        "dns": [resolver(RESOLVER, port, {CHAT: moved})],
        "tls": [tls_entry(MOVED, "chat", [CHAT])],
    }
    services.start(config.parse(data, base=pki.directory))
    got = run(platform(), resolvers=(a_resolver(port),), ca_file=str(pki.ca_cert))
    assert got.ok, got
    assert got.evidence == f"fibre-resolver answered {MOVED} for {CHAT}"


def test_no_resolver_to_ask() -> None:
    got = run(platform())
    assert (got.ok, got.failure, got.evidence) == (False, "unknown_failure", "no resolver to ask")


# --- the budget, and junk on the wire ---------------------------------------------------


def test_the_whole_probe_keeps_to_its_timeout(services: Services) -> None:
    """A silent resolver, and a lie whose TLS proof never completes: still 1.5 s."""
    with socket.socket() as tarpit:
        tarpit.bind((TARPIT, dns.TLS_PORT))
        tarpit.listen()  # the kernel completes the handshake; nobody ever answers the hello
        lie = {"mode": "lie", "address": TARPIT}
        resolvers = two_resolvers(services, free_port(), lie, "drop")
        got = run(platform(), 1.5, resolvers=resolvers)
    assert got.failure == "dns_wrong_answer"
    assert got.detail["proof"] == f"{CHAT}@{TARPIT}=generic_timeout_error"
    assert 1.5 - 0.05 <= got.duration <= 1.5 + SLACK


def hostile_server(port: int, answer: Callable[[bytes], Iterable[bytes]]) -> threading.Thread:
    """Answers one query with whatever `answer` makes of it, until the asker goes away."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOSTILE, port))
    sock.settimeout(2)

    def serve_one() -> None:
        with sock:
            query, peer = sock.recvfrom(512)
            try:
                for datagram in answer(query):
                    sock.sendto(datagram, peer)
            except OSError:  # the probe closed its socket: port unreachable
                return

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    return thread


def test_junk_and_strays_before_the_genuine_reply_are_ignored() -> None:
    def answer(data: bytes) -> list[bytes]:
        query = lab_wire.parse_query(data)
        genuine = lab_wire.address_record(ipaddress.ip_address(CHAT_AT), 60)
        forged = lab_wire.address_record(ipaddress.ip_address(LIAR), 60)
        other_id = (query.ident ^ 1).to_bytes(2, "big") + data[2:]
        other_name = lab_wire.parse_query(dnswire.a_query(WWW, query.ident)[1])
        return [
            b"\xff" * 5,  # too short to be DNS
            data,  # the query echoed: no reply
            lab_wire.response(lab_wire.parse_query(other_id), 0, [forged]),  # another id
            lab_wire.response(other_name, 0, [forged]),  # the same id, another question
            lab_wire.response(query, 0, [genuine]),
        ]

    port = free_port(HOSTILE)
    thread = hostile_server(port, answer)
    got = run(platform(), resolvers=(a_resolver(port, HOSTILE, "odd"),))
    thread.join(2)
    assert got.ok, got
    assert got.detail["answers"] == f"odd={CHAT_AT}"
    assert got.received > 5 * 28 + 5


def test_a_flood_of_junk_cannot_hold_the_probe() -> None:
    def flood(data: bytes) -> Iterator[bytes]:
        stray = lab_wire.response(lab_wire.parse_query(data), 0)[:-1]  # one byte short
        until = time.monotonic() + 1.5
        while time.monotonic() < until:
            yield stray

    port = free_port(HOSTILE)
    thread = hostile_server(port, flood)
    got = run(a_resolver(port, HOSTILE, "flood"), 0.5, expected=WATCHED)
    thread.join(2)
    assert got.failure == "generic_timeout_error"
    assert got.received > 0


class EndlessJunk:
    """A socket that never runs dry: a flood faster than the probe reads."""

    def __init__(self) -> None:
        self.reads = 0

    def recv(self, size: int) -> bytes:
        self.reads += 1
        return b"\xff" * 5


def test_a_socket_that_never_runs_dry_is_left_for_the_clock() -> None:
    request = Request("dns", a_resolver(53), Path("wan"))
    asking = dns._Asking(request, time.monotonic(), [])
    junk = EndlessJunk()
    asking._receive(junk, {})  # type: ignore[arg-type]
    asking.selector.close()
    assert junk.reads == dns.MAX_BURST
    assert asking.received == dns.MAX_BURST * (5 + 28)


def test_bogons_are_ooni_s_less_the_isps_shared_space() -> None:
    assert dns.BOGONS != REAL_BOGONS  # this module's fixture took loopback out
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dns, "BOGONS", REAL_BOGONS)
        bogons = ["0.1.2.3", "10.10.34.35", "127.0.0.1", "169.254.1.1", "172.31.0.1"]
        bogons += ["192.168.1.1", "224.0.0.251", "255.255.255.255"]
        assert all(dns.is_bogon(a) for a in bogons)
        # the lab's ISP and internet addresses, and the first and last address outside
        # two bogon blocks (derived, not written: classification only, nothing is sent)
        edges = [
            ipaddress.ip_network("172.16.0.0/12").broadcast_address + 1,
            ipaddress.ip_network("224.0.0.0/4").network_address - 1,
        ]
        public = ["100.64.0.53", "198.18.0.53", *map(str, edges)]
        assert not any(dns.is_bogon(a) for a in public)
