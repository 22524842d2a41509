"""Shutdown detection on the agent's scheduler: a round of probes, the verdict, the metrics.

Each round builds its probe requests from agent.json: on a gateway, every
target once per uplink, bound to the uplink's device, plus the uplink's first
hop (tier `gateway`); on any other router, every target through the mesh,
plus the gateways themselves (tier `mesh`). All probes of a round run at once,
each within its timeout, so a round's wall time is about one timeout however
many targets time out. Throughput downloads run every `throughput_every`
rounds, and every round while the last one was slow, so a throttle is
confirmed within the verdict's K rounds.

The round's results go to the verdict (agent/verdict.py), to the baselines
when the round was healthy (agent/baseline.py) and to the journal on flash
(agent/journal.py); the metrics are built from the cached round, so a scrape
never waits for a probe. Label values come from agent.json only: bounded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)

from agent import contract
from agent.baseline import Baselines
from agent.config import AgentConfig, Target
from agent.contract import MESH_PATH
from agent.journal import Journal
from agent.probes import PROBERS
from agent.probes.base import Path, Prober, Request, Result, Settings, result
from agent.readers.routes import default_gateways
from agent.verdict import MIN_SAMPLES, OK, Finding, Hysteresis, Layout, Observed, Verdict, observe

log = logging.getLogger("meshkeeper.agent")
TIMEOUT = 1.5  # per probe: a round takes about this long, whatever fails
GRACE = 1.0  # a probe thread still running this long after its timeout is given up
DEFAULT_STATE_DIR = FsPath("/etc/meshkeeper/state")  # flash on OpenWrt: survives reboots
ON_DEMAND = frozenset({"trace"})  # run only when a round finds something wrong


@dataclass(frozen=True)
class Round:
    number: int
    started: float
    results: tuple[Result, ...]
    observed: Observed
    verdict: Verdict
    wall_seconds: float


class Detector:
    """Runs rounds and keeps what the metrics and `probe` show."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        baselines: Baselines | None = None,
        journal: Journal | None = None,
        probers: Mapping[str, Prober] = PROBERS,
        timeout: float = TIMEOUT,
        route_file: FsPath | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.probers = probers
        self.timeout = timeout
        self.route_file = route_file
        self.clock = clock
        self.layout = Layout(
            gateway=bool(config.uplinks),
            resolvers=frozenset(
                t.name for t in config.probes.targets if "dns" in t.kinds and t.host is None
            ),
            isps={t.name: t.isp for t in config.probes.targets if t.tier == "isp" and t.isp},
        )
        self.hysteresis = Hysteresis(now=clock())
        self.baselines = baselines
        self.journal = journal
        self.last: Round | None = None
        self.failures: Counter[tuple[str, str, str, str, str]] = Counter()
        self.traffic = {"sent": 0, "received": 0}
        self.last_success: dict[tuple[str, str], float] = {}
        self._number = 0
        self._slow: set[str] = set()  # throughput targets whose last download was slow
        self._lock = threading.Lock()
        self._possible = frozenset(self.possible_findings())  # fixed by agent.json

    @classmethod
    def on_flash(cls, config: AgentConfig, state_dir: FsPath) -> Detector:
        """The running agent's detector: baselines and journal in `state_dir`."""
        return cls(
            config,
            baselines=Baselines(state_dir / "baselines.json"),
            journal=Journal(state_dir / "journal"),
        )

    # -- a round ---------------------------------------------------------------

    def paths(self) -> list[Path]:
        if not self.config.uplinks:
            return [Path(MESH_PATH)]
        return [Path(u.interface, u.device, u.isp) for u in self.config.uplinks]

    def requests(self, number: int, on_demand: bool = False) -> list[Request]:
        probes = self.config.probes
        throughput_round = number % probes.throughput_every == 0
        hops: Mapping[str, str] = {}
        if self.config.uplinks:  # a DHCP uplink's first hop, as the kernel holds it now
            hops = default_gateways(self.route_file) if self.route_file else default_gateways()
        out: list[Request] = []
        for path in self.paths():
            targets = self._path_targets(path, hops)
            settings = self._settings(path, targets)
            for target in targets:
                for kind in target.kinds:
                    if kind in ON_DEMAND and not on_demand:
                        continue
                    if kind == "throughput" and not (
                        throughput_round or self._wants_download(target.name, path.uplink)
                    ):
                        continue
                    if kind in self.probers:
                        out.append(Request(kind, target, path, self.timeout, settings))
        return out

    def _wants_download(self, target: str, uplink: str) -> bool:
        """Off-schedule downloads: while the last one was slow (to confirm it within
        the verdict's K rounds), and while the baseline is still being learned."""
        if target in self._slow:
            return True
        baseline = self.baselines.get(target, "throughput", uplink) if self.baselines else None
        return baseline is None or baseline.samples < MIN_SAMPLES

    def _path_targets(self, path: Path, hops: Mapping[str, str]) -> list[Target]:
        probes = self.config.probes
        out: list[Target] = []
        if path.uplink == MESH_PATH:
            out += [Target("mesh", g.name, ("icmp",), g.address) for g in probes.gateways]
        elif probes.gateway:
            uplink = next(u for u in self.config.uplinks if u.interface == path.uplink)
            hop = uplink.gateway or hops.get(path.device or "")
            # No first hop known (no lease, no route): the probe fails with
            # network_unreachable, which is what the router's state is.
            out.append(Target("gateway", path.uplink, ("icmp",), hop))
        for target in probes.targets:
            if target.tier == "isp" and path.isp and target.isp and target.isp != path.isp:
                continue  # another ISP's resolver: reached through that ISP's uplink
            out.append(target)
        return out

    def _settings(self, path: Path, targets: Iterable[Target]) -> Settings:
        targets = list(targets)
        controls = [t for t in targets if t.tier == "international" and t.host] + [
            t for t in targets if t.tier == "domestic" and t.host
        ]
        return Settings(
            ca_file=self.config.probes.ca_file,
            control_host=controls[0].host if controls else None,
            resolvers=tuple(t for t in targets if "dns" in t.kinds and t.host is None),
            expected={
                t.host: t.address for t in targets if t.tier == "platforms" and t.host and t.address
            },
            download_bytes=self.config.probes.download_bytes,
        )

    def run(self, requests: list[Request]) -> list[Result]:
        """Every request at once, each in its thread; one stuck past its timeout is a
        timeout result (its thread ends with its socket's own timeout)."""
        results: list[Result | None] = [None] * len(requests)

        def work(index: int, request: Request) -> None:
            try:
                results[index] = self.probers[request.kind](request)
            except Exception as exc:  # a probe bug is a failed probe, never a dead round
                log.exception("probe %s crashed", request.kind)
                results[index] = _synthetic(request, "unknown_failure", f"crashed: {exc!r}")

        threads = [
            threading.Thread(target=work, args=(i, r), name=f"probe-{r.kind}", daemon=True)
            for i, r in enumerate(requests)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + self.timeout + GRACE
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0))
        return [
            r if r is not None else _synthetic(q, "generic_timeout_error", "no answer in time")
            for r, q in zip(results, requests, strict=True)
        ]

    def round(self) -> Round:
        with self._lock:
            self._number += 1
            number = self._number
        started = self.clock()
        begun = time.monotonic()
        results = self.run(self.requests(number))
        observed = observe(results, self.layout, self.baselines)
        if observed and any("trace" in t.kinds for t in self.config.probes.targets):
            results += self.run([q for q in self.requests(number, True) if q.kind == "trace"])
        verdict = self.hysteresis.update(observed, started)
        done = Round(number, started, tuple(results), observed, verdict, time.monotonic() - begun)
        self._remember(done)
        return done

    def _remember(self, done: Round) -> None:
        previous = self.last.verdict if self.last else None
        for seen in done.results:
            if not seen.ok:
                self.failures[(*seen.key, seen.failure)] += 1
            else:
                self.last_success[(seen.tier, seen.uplink)] = seen.timestamp
            self.traffic["sent"] += seen.sent
            self.traffic["received"] += seen.received
        self._slow = {f.target for f in done.observed if f.cls == "throttled"}
        if self.baselines is not None:
            if not done.observed:  # learn only from healthy rounds
                for seen in done.results:
                    if seen.ok:
                        self.baselines.learn(seen)
            self.baselines.maybe_save()
        if self.journal is not None:
            active = [f.labels for f in done.verdict.active]
            self.journal.record_round(
                done.results, active, changed=_changed(previous, done.verdict)
            )
        _log_changes(previous, done.verdict)
        self.last = done

    def close(self) -> None:
        if self.journal is not None:
            self.journal.flush()
        if self.baselines is not None:
            self.baselines.save()

    # -- metrics ---------------------------------------------------------------

    def collect(self) -> list[Metric]:
        """The scheduler's job: one round, then its metrics."""
        self.round()
        return self.families()

    def families(self) -> list[Metric]:
        done = self.last
        labels = ["tier", "target", "kind", "uplink"]
        success = GaugeMetricFamily(
            contract.M_PROBE_SUCCESS, "Whether the probe's last run succeeded.", labels=labels
        )
        duration = GaugeMetricFamily(
            contract.M_PROBE_DURATION, "How long the probe's last run took.", labels=labels
        )
        failures = CounterMetricFamily(
            contract.M_PROBE_FAILURES,
            "Probe runs that failed, by OONI failure string.",
            labels=[*labels, "failure"],
        )
        reachable = GaugeMetricFamily(
            contract.M_TIER_REACHABLE,
            "Share of the tier's targets that answered in the last round.",
            labels=["tier", "uplink"],
        )
        last_ok = GaugeMetricFamily(
            contract.M_LAST_SUCCESS,
            "When a probe of the tier last succeeded on this path (unix time).",
            labels=["tier", "uplink"],
        )
        traffic = CounterMetricFamily(
            contract.M_PROBE_BYTES, "Bytes the probes sent and received.", labels=["direction"]
        )
        for direction, count in sorted(self.traffic.items()):
            traffic.add_metric([direction], float(count))
        for key, count in sorted(self.failures.items()):
            failures.add_metric(list(key), float(count))
        for (tier, uplink), when in sorted(self.last_success.items()):
            last_ok.add_metric([tier, uplink], when)
        uplinks = InfoMetricFamily(contract.M_UPLINK, "Each uplink's ISP, from the inventory.")
        for u in self.config.uplinks:
            uplinks.add_metric([], {"uplink": u.interface, "isp": u.isp})
        families: list[Metric] = [success, duration, failures, reachable, last_ok, traffic]
        if self.config.uplinks:
            families.append(uplinks)
        if done is None:
            return [*families, *self._verdict_families(None)]
        for seen in sorted(done.results, key=lambda r: r.key):
            success.add_metric(list(seen.key), 1.0 if seen.ok else 0.0)
            duration.add_metric(list(seen.key), seen.duration)
        for (tier, uplink), (alive, total) in sorted(_reachability(done.results).items()):
            reachable.add_metric([tier, uplink], alive / total)
        round_at = GaugeMetricFamily(
            contract.M_PROBE_ROUND, "When the last probe round started (unix time)."
        )
        round_at.add_metric([], done.started)
        wall = GaugeMetricFamily(
            contract.M_PROBE_ROUND_DURATION, "How long the last probe round took, wall time."
        )
        wall.add_metric([], done.wall_seconds)
        rounds = CounterMetricFamily(contract.M_PROBE_ROUNDS, "Probe rounds run since the start.")
        rounds.add_metric([], float(done.number))
        return [*families, round_at, wall, rounds, *self._verdict_families(done.verdict)]

    def _verdict_families(self, verdict: Verdict | None) -> list[Metric]:
        names = list(contract.VERDICT_LABELS)
        one_hot = GaugeMetricFamily(
            contract.M_VERDICT,
            "The router's shutdown verdict: 1 for each class it holds now, 0 for the others.",
            labels=names,
        )
        since = GaugeMetricFamily(
            contract.M_VERDICT_SINCE,
            "Since when the router has held each class it holds now (unix time).",
            labels=names,
        )
        active = verdict.active if verdict else {OK: self.clock()}
        for finding in sorted(self._possible | set(active)):
            values = [finding.labels[n] for n in names]
            one_hot.add_metric(values, 1.0 if finding in active else 0.0)
            if finding in active:
                since.add_metric(values, active[finding])
        return [one_hot, since]

    def possible_findings(self) -> list[Finding]:
        """Every class with every label set it can take on this router: always present,
        so a rule can say `== 0` as well as `== 1`; bounded by agent.json."""
        out = [OK]
        targets = self.config.probes.targets
        for path in self.paths():
            up = path.uplink
            out += [Finding(c, up) for c in ("local_failure", "isp_outage")]
            out += [Finding(c, up) for c in ("national_shutdown", "international_shutdown")]
            if up == MESH_PATH:
                out.append(Finding("mesh_partition", up))
                isps = sorted({t.isp for t in targets if t.tier == "isp" and t.isp})
                out += [Finding("isp_outage", up, target=isp) for isp in isps]
            out += [
                Finding("dns_tampering", up, target=t.name)
                for t in targets
                if "dns" in t.kinds and t.host is None
            ]
            out += [
                Finding("platform_blocked", up, platform=t.name, layer=layer)
                for t in targets
                if t.tier == "platforms"
                for layer in contract.BLOCK_LAYERS
            ]
            out += [
                Finding("throttled", up, target=t.name) for t in targets if "throughput" in t.kinds
            ]
            out += [Finding("anomaly", up, target=t.name) for t in targets]
        return out


def _reachability(results: Iterable[Result]) -> dict[tuple[str, str], tuple[int, int]]:
    alive: dict[tuple[str, str, str], bool] = {}
    for seen in results:
        key = (seen.tier, seen.uplink, seen.target)
        alive[key] = alive.get(key, False) or seen.ok
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for (tier, uplink, _), ok in alive.items():
        done, total = out.get((tier, uplink), (0, 0))
        out[(tier, uplink)] = (done + ok, total + 1)
    return out


def _synthetic(request: Request, failure: str, evidence: str) -> Result:
    """A failed result for a probe that gave none (it crashed, or it overran)."""
    started = time.monotonic() - request.timeout
    return result(request, started, ok=False, failure=failure, evidence=evidence)


def _changed(before: Verdict | None, after: Verdict) -> bool:
    return before is None or set(before.active) != set(after.active)


def _log_changes(before: Verdict | None, after: Verdict) -> None:
    old = set(before.active) if before else {OK}
    for finding in sorted(set(after.active) - old):
        log.warning("verdict: %s (%s)", finding, after.evidence.get(finding, "no problem seen"))
    for finding in sorted(old - set(after.active)):
        log.info("verdict: %s no longer holds", finding)
