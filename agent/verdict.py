"""The shutdown verdict: what one round of probe results says, and what the agent believes.

`observe(results, layout, baselines)` is a pure function of one round's
results and the baselines learned while healthy: it returns the findings the
round supports, each with its evidence. `Hysteresis` turns rounds into a
verdict: a finding is entered after K agreeing rounds (an `anomaly` after
K + 2) and left after L rounds without it (agent/contract.py
VERDICT_ENTER_ROUNDS, VERDICT_LEAVE_ROUNDS), so one lost packet never starts
an alert storm. `ok` holds when nothing else does.

From inside a cut network there is no outside control (FIELD-NOTES.md), so
every rule compares tiers seen from the same router on the same path:

    mesh_partition          a router without uplinks reaches none of the gateways
    local_failure           every probe on an uplink fails for want of a route:
                            the router's own port, address or route is gone
    isp_outage{uplink}      the ISP's first hop and everything beyond are dead
                            (a router without uplinks: every tier beyond the mesh;
                            or, {target=ISP}, that ISP's own targets while others answer)
    national_shutdown       the ISP still answers; domestic and foreign are dead
    international_shutdown  the ISP and domestic sites answer; every foreign
                            target (two at least) is dead
    dns_tampering{target}   a resolver answers bogons, a wrong address no TLS
                            handshake proves genuine, or two different replies
    platform_blocked{platform,layer}
                            a platform fails while the foreign controls work, at
                            its lowest failing layer: dns (NXDOMAIN, SERVFAIL, no
                            answer), tcp_ip, tls_sni (target SNI fails, a control
                            SNI on the same address works), http (a block page, or
                            status or title unlike its baseline)
    throttled{target}       a download 10x slower than its baseline
    anomaly{target}         a target fails and no rule explains it: unclear
                            evidence is not censorship

The near misses are rules too: one dead foreign target among live ones is an
anomaly, not a shutdown; one uplink's ISP dead while another works is
isp_outage on that uplink only; a relay that loses every gateway sees a mesh
partition, not a shutdown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agent.contract import MESH_PATH, VERDICT_ENTER_ROUNDS, VERDICT_LEAVE_ROUNDS, finding_text
from agent.probes.base import Result

NO_ROUTE = frozenset({"network_unreachable"})
SILENT = frozenset({"generic_timeout_error", "network_unreachable", "host_unreachable"})
DNS_TAMPERED = frozenset({"dns_bogon_error", "dns_wrong_answer", "dns_injection"})
DNS_BLOCKED = frozenset(
    {"dns_nxdomain_error", "dns_servfail_error", "dns_no_answer", "dns_refused_error"}
)
THROTTLE_FACTOR = 10.0  # FIELD-NOTES.md: at least 10x slower than the baseline
FLAT_CV = 0.25  # per-chunk rates this even: a policer, not congestion
MIN_SAMPLES = 3  # a baseline is trusted after this many healthy rounds
ANOMALY_EXTRA_ROUNDS = 2  # `anomaly` is entered after K + 2 agreeing rounds
SIZE_CHANGE = 0.5  # an HTTP body this much bigger or smaller than its baseline


@dataclass(frozen=True, order=True)
class Finding:
    cls: str
    uplink: str = ""
    target: str = ""
    platform: str = ""
    layer: str = ""

    @property
    def labels(self) -> dict[str, str]:
        return {
            "class": self.cls,
            "uplink": self.uplink,
            "target": self.target,
            "platform": self.platform,
            "layer": self.layer,
        }

    def __str__(self) -> str:
        return finding_text(self.labels)


OK = Finding("ok")


class Baseline(Protocol):
    """What the verdict reads of a learned baseline (agent/baseline.py)."""

    @property
    def samples(self) -> int: ...

    @property
    def rate(self) -> float | None: ...

    @property
    def status(self) -> str | None: ...

    @property
    def title(self) -> str | None: ...

    @property
    def size(self) -> int | None: ...


class Baselines(Protocol):
    def get(self, target: str, kind: str, uplink: str) -> Baseline | None: ...


class _NoBaselines:
    def get(self, target: str, kind: str, uplink: str) -> Baseline | None:
        del target, kind, uplink
        return None


@dataclass(frozen=True)
class Layout:
    """What the verdict must know of the router: whether it has uplinks."""

    gateway: bool  # has uplinks: probes leave through each, first hop in the `gateway` tier
    # DNS targets that are resolvers (no host): their reply, even an error, shows them
    # alive. A name that resolves shows nothing about reaching the site it names.
    resolvers: frozenset[str] = frozenset()
    isps: Mapping[str, str] = field(default_factory=dict)  # isp-tier target -> its ISP


Observed = dict[Finding, str]  # finding -> evidence


def observe(
    results: Sequence[Result], layout: Layout, baselines: Baselines | None = None
) -> Observed:
    """The findings one round of results supports (empty: nothing wrong)."""
    known = baselines or _NoBaselines()
    found: Observed = {}
    for uplink in sorted({r.uplink for r in results}):
        found.update(_path([r for r in results if r.uplink == uplink], uplink, layout, known))
    return found


@dataclass
class _Tiers:
    """One path's results, by tier and by target."""

    results: Sequence[Result]
    resolvers: frozenset[str]
    by_target: dict[tuple[str, str], list[Result]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for result in self.results:
            self.by_target.setdefault((result.tier, result.target), []).append(result)

    def targets(self, tier: str) -> list[str]:
        return sorted({t for (ti, t) in self.by_target if ti == tier})

    def alive(self, tier: str, target: str) -> bool:
        return any(self._reached(r) for r in self.by_target.get((tier, target), []))

    def _reached(self, result: Result) -> bool:
        """The target answered: an ok probe, or a resolver that replied, if only with an
        error (SERVFAIL while abroad is cut is a live resolver)."""
        if result.kind != "dns":
            return result.ok
        if result.target not in self.resolvers:
            return False
        return result.ok or result.failure not in (*SILENT, "unknown_failure")

    def count(self, tier: str) -> tuple[int, int]:
        names = self.targets(tier)
        return sum(self.alive(tier, n) for n in names), len(names)

    def dead(self, *tiers: str) -> bool:
        """Every target of these tiers is dead (and there is one at least)."""
        counts = [self.count(t) for t in tiers]
        return sum(total for _, total in counts) > 0 and sum(a for a, _ in counts) == 0

    def some_alive(self, tier: str) -> bool:
        return self.count(tier)[0] > 0


def _path(results: Sequence[Result], uplink: str, layout: Layout, known: Baselines) -> Observed:
    tiers = _Tiers(results, layout.resolvers)
    if results and all(r.failure in NO_ROUTE for r in results):
        return {Finding("local_failure", uplink): f"no route out of {uplink}: every probe failed"}
    if uplink == MESH_PATH and tiers.dead("mesh"):
        names = ", ".join(tiers.targets("mesh"))
        return {Finding("mesh_partition", uplink): f"no gateway answers through the mesh ({names})"}
    foreign = ("international", "platforms")
    if tiers.dead("isp", "domestic", *foreign):
        # The ISP's own services die with everything beyond them: not a censor's cut,
        # which leaves the ISP answering (national_shutdown), but the ISP, or the
        # path to it, failing. A first hop that still answers does not change that.
        hop = "; its first hop too" if layout.gateway and tiers.dead("gateway") else ""
        return {
            Finding("isp_outage", uplink): (
                f"the ISP's targets and every target beyond are silent{hop}: "
                f"{_dead_list(tiers, 'isp', 'domestic', *foreign)}"
            )
        }
    isp_alive = tiers.some_alive("isp") or (layout.gateway and tiers.some_alive("gateway"))
    if isp_alive and tiers.dead("domestic") and tiers.dead(*foreign):
        return {
            Finding("national_shutdown", uplink): (
                f"the ISP answers; domestic {_dead_list(tiers, 'domestic')} and foreign "
                f"{_dead_list(tiers, *foreign)} are silent"
            )
        }
    alive, total = tiers.count("domestic")
    foreign_total = sum(tiers.count(t)[1] for t in foreign)
    if tiers.dead(*foreign) and foreign_total >= 2 and (total == 0 or alive * 2 >= total):
        return {
            Finding("international_shutdown", uplink): (
                f"domestic answers ({alive}/{total}); every foreign target is silent: "
                f"{_dead_list(tiers, *foreign)}"
            )
        }
    found: Observed = {}
    control = tiers.some_alive("international")
    for name in tiers.targets("platforms"):
        found.update(_platform(tiers, uplink, name, control, known))
    found.update(_resolvers(results, uplink))
    found.update(_throttled(results, uplink, known))
    if uplink == MESH_PATH:  # through the mesh, one ISP's own targets dead: that ISP is
        found.update(_isp_down(tiers, uplink, layout))  # down (a gateway sees it per uplink)
    explained = {f.platform or f.target for f in found}
    explained |= {
        t for t, isp in layout.isps.items() if Finding("isp_outage", uplink, isp) in found
    }
    for tier in ("isp", "domestic", "international"):
        for name in tiers.targets(tier):
            if name not in explained and not tiers.alive(tier, name):
                found[Finding("anomaly", uplink, target=name)] = (
                    f"{tier} target {name} is silent while others answer: "
                    f"{_failures(tiers.by_target[(tier, name)])}"
                )
    return found


def _isp_down(tiers: _Tiers, uplink: str, layout: Layout) -> Observed:
    found: Observed = {}
    for isp in sorted(set(layout.isps.values())):
        names = [t for t in tiers.targets("isp") if layout.isps.get(t) == isp]
        if names and not any(tiers.alive("isp", t) for t in names):
            found[Finding("isp_outage", uplink, target=isp)] = (
                f"{isp}'s own targets are silent ({', '.join(names)}); other ISPs answer"
            )
    return found


def _platform(tiers: _Tiers, uplink: str, name: str, control: bool, known: Baselines) -> Observed:
    by_kind = {r.kind: r for r in tiers.by_target[("platforms", name)]}
    dns = by_kind.get("dns")
    if dns is not None and not dns.ok and dns.failure in DNS_TAMPERED:
        return {
            Finding("dns_tampering", uplink, target=resolver): f"{name}: {_said(dns)}"
            for resolver in _resolver_names(dns)
        }
    if not control:  # no foreign control answers: nothing to judge a platform against
        failing = [r for r in by_kind.values() if not r.ok]
        if failing:
            return {Finding("anomaly", uplink, target=name): _failures(failing)}
        return {}
    if dns is not None and not dns.ok and dns.failure in DNS_BLOCKED:
        return {_blocked(uplink, name, "dns"): f"resolvers say {dns.failure}: {dns.evidence}"}
    tcp = by_kind.get("tcp")
    if tcp is not None and not tcp.ok:
        return {_blocked(uplink, name, "tcp_ip"): f"{tcp.failure}: {tcp.evidence}"}
    tls = by_kind.get("tls")
    if tls is not None and not tls.ok:
        if tls.detail.get("control_sni") == "ok":
            return {
                _blocked(uplink, name, "tls_sni"): (
                    f"handshake naming {name} fails ({tls.failure}); a control name on the "
                    "same address completes"
                )
            }
        return {Finding("anomaly", uplink, target=name): f"tls {tls.failure}: {tls.evidence}"}
    http = by_kind.get("http")
    if http is not None:
        changed = _http_changed(http, known.get(name, "http", uplink))
        if changed:
            return {_blocked(uplink, name, "http"): changed}
    failing = [r for r in by_kind.values() if not r.ok and r.kind != "throughput"]
    if failing:
        return {Finding("anomaly", uplink, target=name): _failures(failing)}
    return {}


def _blocked(uplink: str, platform: str, layer: str) -> Finding:
    return Finding("platform_blocked", uplink, platform=platform, layer=layer)


def _http_changed(http: Result, baseline: Baseline | None) -> str:
    if not http.ok:
        if http.failure == "http_blockpage":
            return f"a block page: {http.evidence}"
        return ""
    if baseline is None or baseline.samples < MIN_SAMPLES:
        return ""
    status, title = http.detail.get("status"), http.detail.get("title")
    if baseline.status is not None and status != baseline.status:
        return f"status {status}, {baseline.status} while healthy: {http.evidence}"
    if baseline.title is not None and title != baseline.title:
        return f"title {title!r}, {baseline.title!r} while healthy"
    size = int(http.detail.get("size", "0") or 0)
    if baseline.size and abs(size - baseline.size) > SIZE_CHANGE * baseline.size:
        return f"{size} bytes, {baseline.size} while healthy"
    return ""


def _resolvers(results: Iterable[Result], uplink: str) -> Observed:
    found: Observed = {}
    for result in results:
        if result.kind == "dns" and result.tier != "platforms" and result.failure in DNS_TAMPERED:
            for resolver in _resolver_names(result):
                found[Finding("dns_tampering", uplink, target=resolver)] = _said(result)
    return found


def _resolver_names(result: Result) -> list[str]:
    names = [n for n in result.detail.get("resolver", "").split(",") if n]
    return names or [result.target]


def _throttled(results: Sequence[Result], uplink: str, known: Baselines) -> Observed:
    """A download 10x slower than its baseline is throttling when the slowness is the
    target's own: another download on the same path keeps its speed (the in-test
    control), or the rate is flat (a policer). Every download slow and uneven is
    loss or congestion on the path, not a throttle (FIELD-NOTES.md)."""
    answering = {r.target for r in results if r.ok and r.kind in ("icmp", "tcp", "tls")}
    slow: dict[str, str] = {}  # target -> evidence
    fast: set[str] = set()
    flat: set[str] = set()
    for result in results:
        if result.kind != "throughput":
            continue
        baseline = known.get(result.target, "throughput", uplink)
        if baseline is None or baseline.samples < MIN_SAMPLES or not baseline.rate:
            continue
        was = f"{baseline.rate / 1000:.1f} kB/s while healthy"
        if result.value is None:
            # Not one byte in time, while the target answers pings and connections.
            if result.failure == "generic_timeout_error" and result.target in answering:
                slow[result.target] = f"no byte of the download in {result.duration:.1f} s, {was}"
            continue
        if result.value * THROTTLE_FACTOR > baseline.rate:
            fast.add(result.target)
            continue
        cv = float(result.detail.get("cv", "1") or 1)
        if cv <= FLAT_CV:
            flat.add(result.target)
        shape = "flat: a policer" if cv <= FLAT_CV else "uneven"
        slow[result.target] = f"{result.value / 1000:.1f} kB/s, {was}; rate {shape} (cv {cv:.2f})"
    found: Observed = {}
    for target, evidence in sorted(slow.items()):
        controls = sorted(fast - {target})
        if controls:
            evidence += f"; {', '.join(controls)} downloads at its usual speed"
        elif target not in flat:
            continue
        found[Finding("throttled", uplink, target=target)] = evidence
    return found


def _said(result: Result) -> str:
    """A failed probe in words: its kind, failure string and what it saw."""
    seen = f": {result.evidence}" if result.evidence else ""
    return f"{result.target} {result.kind} {result.failure}{seen}"


def _dead_list(tiers: _Tiers, *names: str) -> str:
    return ", ".join(t for tier in names for t in tiers.targets(tier))


def _failures(results: Iterable[Result]) -> str:
    return "; ".join(f"{r.kind} {r.failure}" for r in results if not r.ok)


@dataclass(frozen=True)
class Verdict:
    """What the agent believes now: active findings, each with its start and evidence."""

    active: Mapping[Finding, float]  # finding -> since (unix time)
    evidence: Mapping[Finding, str]

    def classes(self) -> list[Finding]:
        return sorted(self.active)


class Hysteresis:
    """Enter a finding after `enter` consecutive rounds that show it; leave it after
    `leave` consecutive rounds that do not."""

    def __init__(
        self, enter: int = VERDICT_ENTER_ROUNDS, leave: int = VERDICT_LEAVE_ROUNDS, now: float = 0.0
    ) -> None:
        self.enter, self.leave = enter, leave
        # Unclear evidence waits longer: one target silent for three rounds on a lossy
        # path is chance (a 5 % lossy link three hops deep); five rounds is a pattern.
        self.enter_for = {"anomaly": enter + ANOMALY_EXTRA_ROUNDS}
        self._streak: dict[Finding, tuple[int, float]] = {}  # rounds seen, first seen
        self._absent: dict[Finding, int] = {}
        self._active: dict[Finding, float] = {OK: now}
        self._evidence: dict[Finding, str] = {}

    def update(self, observed: Mapping[Finding, str], now: float) -> Verdict:
        for finding in list(self._streak):
            if finding not in observed:
                del self._streak[finding]
        for finding, evidence in observed.items():
            count, first = self._streak.get(finding, (0, now))
            self._streak[finding] = (count + 1, first)
            if finding in self._active:
                self._evidence[finding] = evidence
                self._absent.pop(finding, None)
            elif count + 1 >= self.enter_for.get(finding.cls, self.enter):
                self._active[finding] = first
                self._evidence[finding] = evidence
        for finding in [f for f in self._active if f != OK and f not in observed]:
            self._absent[finding] = self._absent.get(finding, 0) + 1
            if self._absent[finding] >= self.leave:
                del self._active[finding], self._absent[finding]
                self._evidence.pop(finding, None)
        others = [f for f in self._active if f != OK]
        if others:
            self._active.pop(OK, None)
        elif OK not in self._active:
            self._active[OK] = now
        return Verdict(dict(self._active), dict(self._evidence))
