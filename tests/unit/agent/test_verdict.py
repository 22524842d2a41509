"""The verdict's rules, table-driven: each class, and the near misses that must not fire.

Rounds are built as the detector builds them for the example network: a
gateway probes each uplink (tier `gateway` = its first hop), a relay probes
through the mesh (tier `mesh` = the gateways). `world()` is a healthy round;
each case kills or changes what one fault would, and states the findings the
round must support, no more and no fewer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from agent.contract import MESH_PATH, VERDICT_CLASSES
from agent.probes.base import Result
from agent.verdict import OK, Finding, Hysteresis, Layout, observe

# (tier, target, kinds) of the example network's probes/tiers, as agent.json lists them
TARGETS = [
    ("isp", "fibre-resolver", ("icmp", "dns")),
    ("domestic", "exchange-ntp", ("icmp",)),
    ("domestic", "gov-portal", ("icmp", "tcp", "tls")),
    ("domestic", "national-news", ("tcp", "http")),
    ("international", "intl-resolver", ("icmp", "dns")),
    ("international", "intl-web", ("icmp", "tcp", "tls", "http", "throughput")),
    ("platforms", "chat", ("dns", "tcp", "tls", "http")),
    ("platforms", "social", ("dns", "tcp", "tls", "http")),
    ("platforms", "video", ("dns", "tcp", "tls", "http", "throughput")),
]
RESOLVERS = frozenset({"fibre-resolver", "intl-resolver"})
ISPS = {"fibre-resolver": "isp-fibre", "lte-resolver": "isp-lte"}
GATEWAY = Layout(gateway=True, resolvers=RESOLVERS, isps=ISPS)
RELAY = Layout(gateway=False, resolvers=RESOLVERS | {"lte-resolver"}, isps=ISPS)


def ok(tier: str, target: str, kind: str, uplink: str, **detail: str) -> Result:
    value = {"icmp": 0.01, "throughput": 1_000_000.0}.get(kind)
    if kind == "http":
        detail = {"status": "200", "size": "60", "title": "", **detail}
    return Result(tier, target, kind, uplink, True, 0.01, value=value, detail=detail)


def failed(result: Result, failure: str, **detail: str) -> Result:
    return replace(
        result, ok=False, failure=failure, value=None, detail={**result.detail, **detail}
    )


def world(layout: Layout = GATEWAY, uplink: str = "wan") -> list[Result]:
    out = []
    if layout.gateway:
        out.append(ok("gateway", uplink, "icmp", uplink))
    else:
        out += [ok("mesh", g, "icmp", uplink) for g in ("gw-market", "gw-school")]
    for tier, target, kinds in TARGETS:
        out += [ok(tier, target, kind, uplink) for kind in kinds]
    if not layout.gateway:  # through the mesh, every ISP's resolver is probed
        out += [ok("isp", "lte-resolver", kind, uplink) for kind in ("icmp", "dns")]
    return out


Change = Callable[[Result], Result]


def kill(
    *tiers: str, failure: str = "generic_timeout_error", but: set[str] | None = None
) -> Change:
    """Every probe of these tiers times out (except targets in `but`)."""

    def change(r: Result) -> Result:
        if r.tier in tiers and r.target not in (but or set()):
            return failed(r, failure)
        return r

    return change


def only(target: str, kind: str, failure: str, **detail: str) -> Change:
    def change(r: Result) -> Result:
        if r.target == target and r.kind == kind:
            return failed(r, failure, **detail)
        return r

    return change


def block(platform: str, layer: str) -> Change:
    """What a censor blocking `platform` at `layer` does to its probes."""
    above = {
        "dns": {"dns": "dns_nxdomain_error"},
        "tcp": {
            "tcp": "connection_refused",
            "tls": "connection_refused",
            "http": "connection_refused",
        },
        "tls": {"tls": "connection_reset"},
        "http": {"http": "http_blockpage"},
    }[layer]

    def change(r: Result) -> Result:
        if r.target == platform and r.kind in above:
            control = {"control_sni": "ok"} if r.kind == "tls" else {}
            return failed(r, above[r.kind], **control)
        return r

    return change


def apply(results: list[Result], *changes: Change) -> list[Result]:
    for change in changes:
        results = [change(r) for r in results]
    return results


@dataclass(frozen=True)
class Case:
    name: str
    layout: Layout
    changes: tuple[Change, ...]
    expected: set[Finding]


W = "wan"
M = MESH_PATH
CASES = [
    Case("healthy gateway", GATEWAY, (), set()),
    Case("healthy relay", RELAY, (), set()),
    Case(
        "international cut on a gateway",
        GATEWAY,
        (kill("international", "platforms"),),
        {Finding("international_shutdown", W)},
    ),
    Case(
        "international cut seen by a relay",
        RELAY,
        (kill("international", "platforms"),),
        {Finding("international_shutdown", M)},
    ),
    Case(
        "national cut: the ISP answers, nothing beyond",
        GATEWAY,
        (kill("domestic", "international", "platforms"),),
        {Finding("national_shutdown", W)},
    ),
    Case(
        "national cut seen by a relay",
        RELAY,
        (kill("domestic", "international", "platforms"),),
        {Finding("national_shutdown", M)},
    ),
    Case(
        "ISP down: first hop and everything beyond silent",
        GATEWAY,
        (kill("gateway", "isp", "domestic", "international", "platforms"),),
        {Finding("isp_outage", W)},
    ),
    Case(
        "ISP down seen by a relay routing through it",
        RELAY,
        (kill("isp", "domestic", "international", "platforms"),),
        {Finding("isp_outage", M)},
    ),
    Case(
        "one ISP down seen by a relay routing through the other",
        RELAY,
        (kill("isp", but={"lte-resolver"}),),
        {Finding("isp_outage", M, target="isp-fibre")},
    ),
    Case(
        "near miss: one of an ISP's two targets dead is not that ISP down",
        RELAY,
        (only("fibre-resolver", "dns", "generic_timeout_error"),),
        set(),
    ),
    Case(
        "uplink without a route: local failure",
        GATEWAY,
        (
            kill(
                "gateway",
                "isp",
                "domestic",
                "international",
                "platforms",
                failure="network_unreachable",
            ),
        ),
        {Finding("local_failure", W)},
    ),
    Case(
        "relay that reaches no gateway: mesh partition, not a shutdown",
        RELAY,
        (kill("mesh", "isp", "domestic", "international", "platforms"),),
        {Finding("mesh_partition", M)},
    ),
    Case(
        "near miss: one gateway lost, the other carries the relay",
        RELAY,
        (kill("mesh", but={"gw-school"}),),
        set(),
    ),
    Case(
        "near miss: one dead international target is an anomaly, not a shutdown",
        GATEWAY,
        (kill("international", but={"intl-resolver"}),),
        {Finding("anomaly", W, target="intl-web")},
    ),
    Case(
        "near miss: foreign dead with domestic mostly dead too is not international",
        GATEWAY,
        (kill("international", "platforms"), kill("domestic", but={"exchange-ntp"})),
        {
            Finding("anomaly", W, target="gov-portal"),
            Finding("anomaly", W, target="national-news"),
            Finding("anomaly", W, target="intl-resolver"),
            Finding("anomaly", W, target="intl-web"),
            Finding("anomaly", W, target="chat"),
            Finding("anomaly", W, target="social"),
            Finding("anomaly", W, target="video"),
        },
    ),
    Case(
        "platform blocked by DNS (NXDOMAIN)",
        GATEWAY,
        (block("chat", "dns"),),
        {Finding("platform_blocked", W, platform="chat", layer="dns")},
    ),
    Case(
        "platform blocked at TCP/IP",
        GATEWAY,
        (block("social", "tcp"),),
        {Finding("platform_blocked", W, platform="social", layer="tcp_ip")},
    ),
    Case(
        "platform blocked by SNI: the control SNI on the same address works",
        GATEWAY,
        (block("chat", "tls"),),
        {Finding("platform_blocked", W, platform="chat", layer="tls_sni")},
    ),
    Case(
        "near miss: TLS fails for the control SNI too: anomaly, not SNI blocking",
        GATEWAY,
        (only("chat", "tls", "connection_reset", control_sni="connection_reset"),),
        {Finding("anomaly", W, target="chat")},
    ),
    Case(
        "platform blocked by an HTTP block page",
        GATEWAY,
        (block("video", "http"),),
        {Finding("platform_blocked", W, platform="video", layer="http")},
    ),
    Case(
        "near miss: a platform down while foreign controls are down too is no block",
        GATEWAY,
        (kill("international", "platforms"),),
        {Finding("international_shutdown", W)},
    ),
    Case(
        "DNS tampering: a resolver lies about the platforms",
        GATEWAY,
        (
            only("chat", "dns", "dns_wrong_answer", resolver="fibre-resolver,intl-resolver"),
            only("fibre-resolver", "dns", "dns_wrong_answer"),
            only("intl-resolver", "dns", "dns_wrong_answer"),
        ),
        {
            Finding("dns_tampering", W, target="fibre-resolver"),
            Finding("dns_tampering", W, target="intl-resolver"),
        },
    ),
    Case(
        "DNS tampering on one resolver only",
        GATEWAY,
        (only("fibre-resolver", "dns", "dns_bogon_error"),),
        {Finding("dns_tampering", W, target="fibre-resolver")},
    ),
    Case(
        "DNS injection: two different replies",
        GATEWAY,
        (only("chat", "dns", "dns_injection", resolver="intl-resolver"),),
        {Finding("dns_tampering", W, target="intl-resolver")},
    ),
    Case(
        "near miss: a resolver that answers SERVFAIL is reachable, not a dead ISP",
        GATEWAY,
        (only("fibre-resolver", "dns", "dns_servfail_error"),),
        set(),
    ),
    Case(
        "platform blocked while another is throttled",
        GATEWAY,
        (
            block("chat", "tcp"),
            lambda r: (
                replace(r, value=20_000.0, detail={"cv": "0.05"})
                if r.target == "video" and r.kind == "throughput"
                else r
            ),
        ),
        {
            Finding("platform_blocked", W, platform="chat", layer="tcp_ip"),
            Finding("throttled", W, target="video"),
        },
    ),
]


@dataclass(frozen=True)
class Learned:
    samples: int = 5
    rate: float | None = 1_000_000.0
    status: str | None = "200"
    title: str | None = ""
    size: int | None = 60


class Known:
    def get(self, target: str, kind: str, uplink: str) -> Learned | None:
        del target, kind, uplink
        return Learned()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_rule_and_its_near_misses(case: Case) -> None:
    uplink = W if case.layout.gateway else M
    results = apply(world(case.layout, uplink), *case.changes)
    assert set(observe(results, case.layout, Known())) == case.expected


def test_every_class_of_the_contract_has_a_case() -> None:
    seen = {f.cls for c in CASES for f in c.expected} | {"ok"}
    assert seen == set(VERDICT_CLASSES)


def test_every_finding_carries_evidence() -> None:
    for case in CASES:
        uplink = W if case.layout.gateway else M
        found = observe(apply(world(case.layout, uplink), *case.changes), case.layout, Known())
        assert all(evidence.strip() for evidence in found.values()), case.name


def test_two_uplinks_one_isp_dead_is_an_outage_of_that_uplink_only() -> None:
    results = apply(
        world(GATEWAY, "wan"), kill("gateway", "isp", "domestic", "international", "platforms")
    )
    results += world(GATEWAY, "wan2")
    assert set(observe(results, GATEWAY, Known())) == {Finding("isp_outage", "wan")}


def test_one_uplink_cut_internationally_the_other_fine() -> None:
    results = apply(world(GATEWAY, "wan"), kill("international", "platforms")) + world(
        GATEWAY, "wan2"
    )
    assert set(observe(results, GATEWAY, Known())) == {Finding("international_shutdown", "wan")}


def test_throttle_needs_a_learned_baseline() -> None:
    slow = [
        replace(r, value=20_000.0, detail={"cv": "0.05"}) if r.kind == "throughput" else r
        for r in world()
    ]

    class Learning:
        def get(self, target: str, kind: str, uplink: str) -> Learned:
            return Learned(samples=2)

    assert observe(slow, GATEWAY, Learning()) == {}
    assert set(observe(slow, GATEWAY, Known())) == {
        Finding("throttled", W, target="intl-web"),
        Finding("throttled", W, target="video"),
    }


def slowed(target: str, rate: float, cv: str) -> Change:
    def change(r: Result) -> Result:
        if r.target == target and r.kind == "throughput":
            return replace(r, value=rate, detail={"cv": cv})
        return r

    return change


def test_near_miss_every_download_slow_and_uneven_is_loss_not_throttling() -> None:
    lossy = apply(world(), slowed("video", 20_000.0, "0.9"), slowed("intl-web", 30_000.0, "1.2"))
    assert observe(lossy, GATEWAY, Known()) == {}


def test_every_download_slow_and_flat_is_a_policer_on_everything() -> None:
    policed = apply(world(), slowed("video", 20_000.0, "0.05"), slowed("intl-web", 20_000.0, "0.1"))
    assert set(observe(policed, GATEWAY, Known())) == {
        Finding("throttled", W, target="video"),
        Finding("throttled", W, target="intl-web"),
    }


def test_one_download_slow_while_the_other_keeps_its_speed_is_throttling() -> None:
    found = observe(apply(world(), slowed("video", 20_000.0, "0.9")), GATEWAY, Known())
    assert set(found) == {Finding("throttled", W, target="video")}
    assert "intl-web downloads at its usual speed" in found[Finding("throttled", W, target="video")]


def test_a_download_that_gets_nothing_while_the_target_answers_is_throttling() -> None:
    starved = apply(world(), only("video", "throughput", "generic_timeout_error"))
    assert set(observe(starved, GATEWAY, Known())) == {Finding("throttled", W, target="video")}
    silent = apply(world(), kill("platforms", but={"chat", "social"}))  # video silent: no throttle
    assert Finding("throttled", W, target="video") not in observe(silent, GATEWAY, Known())


def test_near_miss_a_rate_5x_below_the_baseline_is_not_throttling() -> None:
    slower = [replace(r, value=200_000.0) if r.kind == "throughput" else r for r in world()]
    assert observe(slower, GATEWAY, Known()) == {}


def test_http_title_unlike_the_baseline_is_a_block_only_once_learned() -> None:
    changed = apply(
        world(),
        lambda r: (
            replace(r, detail={**r.detail, "title": "Blocked"})
            if r.target == "social" and r.kind == "http"
            else r
        ),
    )
    assert set(observe(changed, GATEWAY, Known())) == {
        Finding("platform_blocked", W, platform="social", layer="http")
    }
    assert observe(changed, GATEWAY, None) == {}


# -- hysteresis -----------------------------------------------------------------

CUT = Finding("international_shutdown", W)


def test_a_class_is_entered_after_k_agreeing_rounds_and_left_after_l() -> None:
    h = Hysteresis(enter=3, leave=2, now=0)
    timeline = [{}, {CUT: "e"}, {CUT: "e"}, {CUT: "e"}, {CUT: "e"}, {}, {}, {}]
    held = [set(h.update(seen, now=float(t)).active) for t, seen in enumerate(timeline)]
    assert held == [{OK}, {OK}, {OK}, {CUT}, {CUT}, {CUT}, {OK}, {OK}]


def test_since_is_the_first_round_of_the_agreeing_streak() -> None:
    h = Hysteresis(enter=3, leave=2, now=0)
    for t in (10.0, 20.0, 30.0):
        verdict = h.update({CUT: "e"}, now=t)
    assert verdict.active == {CUT: 10.0}


def test_a_flapping_round_never_enters() -> None:
    h = Hysteresis(enter=3, leave=2, now=0)
    for t in range(20):
        verdict = h.update({CUT: "e"} if t % 2 else {}, now=float(t))
        assert set(verdict.active) == {OK}


def test_one_good_round_does_not_clear_an_active_class() -> None:
    h = Hysteresis(enter=3, leave=2, now=0)
    for t in range(3):
        h.update({CUT: "e"}, now=float(t))
    assert set(h.update({}, now=3.0).active) == {CUT}
    assert set(h.update({CUT: "e"}, now=4.0).active) == {CUT}
    assert set(h.update({}, now=5.0).active) == {CUT}
    assert set(h.update({}, now=6.0).active) == {OK}


def test_an_anomaly_needs_two_rounds_more_than_a_clear_class() -> None:
    h = Hysteresis(enter=3, leave=2, now=0)
    odd = Finding("anomaly", W, target="exchange-ntp")
    held = [set(h.update({odd: "silent"}, now=float(t)).active) for t in range(5)]
    assert held == [{OK}, {OK}, {OK}, {OK}, {odd}]


def test_classes_enter_and_leave_independently() -> None:
    h = Hysteresis(enter=2, leave=1, now=0)
    blocked = Finding("platform_blocked", W, platform="chat", layer="tcp_ip")
    h.update({CUT: "a"}, now=1)
    assert set(h.update({CUT: "a", blocked: "b"}, now=2).active) == {CUT}
    assert set(h.update({blocked: "b"}, now=3).active) == {blocked}
    assert h.update({blocked: "b"}, now=3).evidence == {blocked: "b"}
