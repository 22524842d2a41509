"""Benchmark: the NOC at 1,000 routers, with the real Prometheus.

    .venv/bin/python bench/noc.py [--routers 1000] [--rounds 5] [--no-rules] [--smoke]

Everything on 127.0.0.1. A synthetic fleet of agents (one listening port per
router, like the real ones, all served by one thread from bodies made once with
prometheus_client, the agents' own encoder) and the controller's exporter (push
state, one series set per node) are scraped every 5 s by /usr/bin/prometheus
(a temporary data directory, a free port): job JOB_AGENTS from the file_sd the
controller renders (controller.noc.targets.file_sd: node, role and network
labels on each target, so `up` is Prometheus's own, per router), job
JOB_CONTROLLER with honor_labels. Each router exports what an agent does: its
config generation, info and pending flag, 3 expected links (up, loss, babel
cost), 6 tiers' reachability and last success, probe results, a one-hot verdict
over every label set it can hold (13 on one uplink, 23 on two), the held ones'
since-times, and each gateway's uplinks with their ISP. The fleet is in a
shutdown: 40 % of the gateways, on all three ISPs, and a fifth of the other
routers hold international_shutdown; one ISP is out on two gateways; a few
routers see DNS tampering, a blocked platform, throttling; a few links and
agents are down, a few configs behind or pending.

1. `meshkeeper status` from Prometheus: live_from_prometheus + fleet +
   fleet_table, median of --rounds (target < 2 s at 1,000 routers); beside it,
   the embedded path in the same run: live_from_agents asking the 1,000 agents
   themselves.
2. Rule evaluation: controller/noc/rules.py's rules (Timing 5 s rounds, 5 s
   scrapes) loaded into the same Prometheus; each group's
   prometheus_rule_group_last_duration_seconds from Prometheus's own /metrics
   over --rounds evaluations once the data is in (target: all groups < 1 s a
   round), with the alerts the shutdown set off.

--smoke: 50 routers, 2 rounds. Prints its figures; a benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent import contract  # noqa: E402
from controller.noc import fleet as fl  # noqa: E402
from controller.noc import fleet_table as ft  # noqa: E402
from controller.noc.api import get_json  # noqa: E402
from controller.noc.targets import AgentTarget, file_sd  # noqa: E402
from controller.push.state import NodeState  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
NETWORK = "bench"
INTERVAL = 5  # seconds: scrapes and rule evaluations, as in the lab
ISPS = ("isp-a", "isp-b", "isp-c")
PLATFORMS = ("chat", "video")
LAYERS = ("dns", "tls_sni")
PUSHED = 14  # the generation the controller pushed everywhere


# ------------------------------------------------------------------ the fleet


@dataclass(frozen=True)
class Router:
    index: int
    name: str
    role: str
    uplinks: tuple[tuple[str, str], ...]  # (uplink, isp); ("mesh", "") off the gateways
    neighbours: tuple[str, ...]
    held: tuple[dict[str, str], ...]  # verdict label sets held now
    links_down: frozenset[str]
    generation: int
    pending: bool
    down: bool  # the agent answers HTTP 503: Prometheus's up == 0


def make_fleet(count: int) -> list[Router]:
    names = [f"node-{i:04d}" for i in range(count)]
    return [_router(i, names) for i in range(count)]


def _router(i: int, names: list[str]) -> Router:
    count = len(names)
    role = "gateway" if i % 10 == 0 else "relay" if i % 10 in (1, 2) else "leaf"
    if role == "gateway":
        isp = ISPS[(i // 10) % 3]
        second = ((("wan2", ISPS[(i // 10 + 1) % 3]),)) if (i // 10) % 3 == 0 else ()
        uplinks: tuple[tuple[str, str], ...] = (("wan", isp), *second)
    else:
        uplinks = ((contract.MESH_PATH, ""),)
    neighbours = tuple(names[(i + step) % count] for step in (1, -1, 7) if count > 1)
    return Router(
        index=i,
        name=names[i],
        role=role,
        uplinks=uplinks,
        neighbours=tuple(dict.fromkeys(n for n in neighbours if n != names[i])),
        held=_held(i, role, uplinks),
        links_down=frozenset(neighbours[:1]) if i % 53 == 5 else frozenset(),
        generation=PUSHED - 1 if i % 211 == 7 else PUSHED,
        pending=i % 307 == 11,
        down=i % 331 == 13,
    )


def _held(i: int, role: str, uplinks: tuple[tuple[str, str], ...]) -> tuple[dict[str, str], ...]:
    wan = uplinks[0][0]
    held = []
    if (role == "gateway" and (i // 10) % 5 in (0, 1)) or (role != "gateway" and i % 5 == 3):
        held.append({"class": "international_shutdown", "uplink": wan})
    if (role == "gateway" and (i // 10) % 5 == 2 and len(uplinks) > 1) or i in (20, 50):
        held.append({"class": "isp_outage", "uplink": uplinks[-1][0]})
    if i % 97 == 4:
        held.append({"class": "dns_tampering", "uplink": wan, "target": ISPS[0]})
    if i % 89 == 6:
        held.append(
            {"class": "platform_blocked", "uplink": wan, "platform": "chat", "layer": "tls_sni"}
        )
    if i % 401 == 9:
        held.append({"class": "throttled", "uplink": wan, "target": "speedtest"})
    return tuple(held) or ({"class": "ok"},)


def _possible(router: Router) -> list[dict[str, str]]:
    """Every verdict label set the router can hold: the one-hot's rows."""
    sets = [{"class": "ok"}, {"class": "local_failure"}, {"class": "mesh_partition"}]
    for uplink, _ in router.uplinks:
        for cls in ("isp_outage", "international_shutdown", "national_shutdown"):
            sets.append({"class": cls, "uplink": uplink})
        sets.append({"class": "dns_tampering", "uplink": uplink, "target": ISPS[0]})
        sets.append({"class": "throttled", "uplink": uplink, "target": "speedtest"})
        sets.append({"class": "anomaly", "uplink": uplink, "target": "speedtest"})
        sets += [
            {"class": "platform_blocked", "uplink": uplink, "platform": p, "layer": layer}
            for p in PLATFORMS
            for layer in LAYERS
        ]
    return sets


def _labels(found: dict[str, str]) -> list[str]:
    return [found.get(name, "") for name in contract.VERDICT_LABELS]


def agent_families(router: Router, now: float) -> list[Metric]:
    """What the router's agent exports (without node/role: Prometheus adds them)."""
    gen = GaugeMetricFamily(contract.M_CONFIG_GENERATION, "", value=router.generation)
    pending = GaugeMetricFamily(contract.M_CONFIG_PENDING, "", value=float(router.pending))
    config = InfoMetricFamily(contract.M_CONFIG, "")
    config.add_metric([], {"hash": f"{router.generation:064x}"})
    link = GaugeMetricFamily(contract.M_LINK_UP, "", labels=["neighbor", "medium"])
    loss = GaugeMetricFamily(contract.M_NEIGHBOR_LOSS, "", labels=["neighbor", "medium"])
    cost = GaugeMetricFamily(contract.M_BABEL_COST, "", labels=["neighbor", "interface"])
    for neighbour in router.neighbours:
        up = neighbour not in router.links_down
        link.add_metric([neighbour, "wifi"], float(up))
        loss.add_metric([neighbour, "wifi"], 0.02 if up else 1.0)
        cost.add_metric([neighbour, "mesh0"], 256 if up else 65535)
    shut = {f["class"] for f in router.held} & {"international_shutdown"}
    tiers = GaugeMetricFamily(contract.M_TIER_REACHABLE, "", labels=["tier", "uplink"])
    last = GaugeMetricFamily(contract.M_LAST_SUCCESS, "", labels=["tier", "uplink"])
    probes = GaugeMetricFamily(
        contract.M_PROBE_SUCCESS, "", labels=["tier", "target", "kind", "uplink"]
    )
    for uplink, _ in router.uplinks:
        for tier in contract.TIERS:
            dead = bool(shut) and tier in ("international", "platforms")
            tiers.add_metric([tier, uplink], 0.0 if dead else 1.0)
            last.add_metric([tier, uplink], now - (3600 if dead else 5))
            for n, kind in enumerate(("icmp", "dns", "tls")):
                probes.add_metric([tier, f"{tier}-{n}", kind, uplink], 0.0 if dead else 1.0)
    families: list[Metric] = [gen, pending, config, link, loss, cost, tiers, last, probes]
    round_at = GaugeMetricFamily(contract.M_PROBE_ROUND, "", value=now - 2)
    names = list(contract.VERDICT_LABELS)
    verdict = GaugeMetricFamily(contract.M_VERDICT, "", labels=names)
    since = GaugeMetricFamily(contract.M_VERDICT_SINCE, "", labels=names)
    for found in _possible(router):
        held = found in router.held
        verdict.add_metric(_labels(found), float(held))
        if held:
            since.add_metric(_labels(found), now - 600)
    families += [round_at, verdict, since]
    if router.role == "gateway":
        info = InfoMetricFamily(contract.M_UPLINK, "", labels=["uplink", "isp"])
        for uplink, isp in router.uplinks:
            info.add_metric([uplink, isp], {})
        families.append(info)
    if router.index % 250 == 3:
        rollback = GaugeMetricFamily(contract.M_CONFIG_ROLLBACK, "", labels=["reason"])
        rollback.add_metric(["timer"], now - 900)
        families.append(rollback)
    return families


def controller_families(fleet: list[Router], now: float) -> list[Metric]:
    state = GaugeMetricFamily(contract.M_PUSH_STATE, "", labels=["node", "state"])
    generation = GaugeMetricFamily(contract.M_PUSH_GENERATION, "", labels=["node"])
    since = GaugeMetricFamily(contract.M_PUSH_SINCE, "", labels=["node"])
    for router in fleet:
        for name in contract.PUSH_STATES:
            state.add_metric([router.name, name], float(name == _push_state(router)))
        generation.add_metric([router.name], PUSHED)
        since.add_metric([router.name], now - 7200)
    return [state, generation, since]


def _push_state(router: Router) -> str:
    return "rolled_back" if router.index % 250 == 3 else "applied"


def exposition(families: list[Metric]) -> bytes:
    class Fixed:
        def collect(self) -> list[Metric]:
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())
    return generate_latest(registry)


# ------------------------------------------------------- the agents, served


def _answer(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class Exporters:
    """One listening socket on 127.0.0.1 per body, all served by one thread:
    whatever is asked, the answer is that socket's body (made once)."""

    def __init__(self, answers: list[bytes]) -> None:
        self.selector = selectors.DefaultSelector()
        self.ports: list[int] = []
        self.served = 0
        for answer in answers:
            sock = socket.create_server(("127.0.0.1", 0), backlog=128)
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, answer)
            self.ports.append(sock.getsockname()[1])
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Exporters:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.selector.select(0.1):
                if isinstance(key.data, bytes):
                    self._accept(key.fileobj, key.data)  # type: ignore[arg-type]
                else:
                    self._read(key.fileobj, key.data)  # type: ignore[arg-type]

    def _accept(self, listener: socket.socket, answer: bytes) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ, [answer, bytearray()])

    def _read(self, conn: socket.socket, state: list[Any]) -> None:
        try:
            chunk = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        state[1] += chunk
        if chunk and b"\r\n\r\n" not in state[1]:
            return
        self.selector.unregister(conn)
        if chunk:
            conn.setblocking(True)
            conn.settimeout(5)
            try:
                conn.sendall(state[0])
                self.served += 1
            except OSError:
                pass
        conn.close()


# ------------------------------------------------------------------ Prometheus


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def prometheus_config(controller_port: int, rules: list[str]) -> str:
    config = {
        "global": {"scrape_interval": f"{INTERVAL}s", "evaluation_interval": f"{INTERVAL}s"},
        "rule_files": rules,
        "scrape_configs": [
            {
                "job_name": contract.JOB_AGENTS,
                "scrape_timeout": "4s",
                "file_sd_configs": [{"files": ["agents.json"], "refresh_interval": "1m"}],
            },
            {
                "job_name": contract.JOB_CONTROLLER,
                "honor_labels": True,
                # as `monitoring render` labels it (controller/noc/config.py)
                "static_configs": [
                    {"targets": [f"127.0.0.1:{controller_port}"], "labels": {"network": NETWORK}}
                ],
            },
        ],
    }
    return json.dumps(config, indent=2)  # JSON is YAML


@contextmanager
def prometheus(workdir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def query_value(url: str, query: str) -> float | None:
    answer = get_json(url, "/api/v1/query", {"query": query}, 10)
    result = answer.get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else None


def wait_for(what: str, check: Callable[[], bool], proc: subprocess.Popen[bytes]) -> float:
    limit = 180.0
    started = time.monotonic()
    while not check():
        if proc.poll() is not None:
            sys.exit(f"prometheus exited ({proc.returncode}) waiting for {what}: see its log")
        if time.monotonic() - started > limit:
            sys.exit(f"no {what} within {limit:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - started


def _ready(url: str) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=2)
        conn.request("GET", "/-/ready")
        ready = conn.getresponse().status == 200
        conn.close()
    except OSError:
        return False
    return ready


def own_metrics(url: str) -> list[Any]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def group_figures(url: str, name: str) -> dict[str, float]:
    return {
        s.labels["rule_group"].split(";")[-1]: s.value
        for s in own_metrics(url)
        if s.name == name and "rule_group" in s.labels
    }


# ------------------------------------------------------------------ benches


def median_time(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def bench_status(url: str, fleet: list[Router], targets: list[AgentTarget], rounds: int) -> None:
    inventory = {r.name: r.role for r in fleet}
    states = [NodeState(r.name, PUSHED, "h", "h", _push_state(r), None, 0.0) for r in fleet]

    def status() -> str:
        return ft.fleet_table(fl.fleet(inventory, states, fl.live_from_prometheus(url)))

    query, live = median_time(lambda: fl.live_from_prometheus(url), rounds)
    whole, table = median_time(status, rounds)
    agents, direct = median_time(lambda: fl.live_from_agents(targets, 5.0), max(1, rounds // 2))
    same = sum(_agree(seen, direct.get(name)) for name, seen in live.items())
    rows = fl.fleet(inventory, states, live)
    print(f"\n1. `meshkeeper status` data path, {len(fleet)} routers (median of {rounds})")
    print(f"   {'live_from_prometheus (7 instant queries)':<48} {query * 1000:8.0f} ms")
    print(f"   {'+ fleet + fleet_table':<48} {(whole - query) * 1000:8.0f} ms")
    print(f"   {'= status from Prometheus':<48} {whole * 1000:8.0f} ms   (target < 2000 ms)")
    print(f"   {'peer: live_from_agents (16 at a time)':<48} {agents * 1000:8.0f} ms")
    print(f"   both paths agree on {same}/{len(fleet)} routers (agent up, generation, links,")
    print("   verdict); the table's summary:")
    for line in ft.summary(rows, 74):
        print(f"     {line}")
    print(f"   failing: {fl.failing(rows)}; {len(table.splitlines())} lines of table")


def _agree(one: fl.Live, other: fl.Live | None) -> bool:
    """The two paths say the same of a router (pending aside: scrape.py does not read it
    yet; an agent down is `down` from Prometheus and why from the agent path)."""
    if other is None or (one.agent == fl.UP) != (other.agent == fl.UP):
        return False
    facts = ("generation", "links_up", "links_expected", "links_down", "verdict")
    return all(getattr(one, f) == getattr(other, f) for f in facts)


def bench_rules(url: str, rounds: int) -> None:
    name = "prometheus_rule_group_iterations_total"
    start = group_figures(url, name)
    if not start:
        print("\n2. rule evaluation: no rule groups loaded")
        return
    durations: dict[str, list[float]] = {g: [] for g in start}
    seen = dict(start)
    while min(len(d) for d in durations.values()) < rounds:
        time.sleep(1)
        now = group_figures(url, name)
        last = group_figures(url, "prometheus_rule_group_last_duration_seconds")
        for group, count in now.items():
            if count > seen.get(group, 0):
                durations[group].append(last[group])
        seen = now
    failures = sum(
        s.value for s in own_metrics(url) if s.name == "prometheus_rule_evaluation_failures_total"
    )
    alerts = get_json(url, "/api/v1/alerts")["data"]["alerts"]
    firing: dict[str, int] = {}
    for alert in alerts:
        key = f"{alert['labels']['alertname']} ({alert['labels'].get('severity', '?')})"
        firing[key] = firing.get(key, 0) + 1
    rules = group_figures(url, "prometheus_rule_group_rules")
    print(f"\n2. rule evaluation per round over the same fleet ({rounds} evaluations each)")
    print(f"   {'group':<24} {'rules':>5} {'median ms':>10} {'max ms':>8}")
    total = worst = 0.0
    for group in sorted(durations):
        values = durations[group]
        total += statistics.median(values)
        worst += max(values)
        print(
            f"   {group:<24} {rules.get(group, 0):5.0f} "
            f"{statistics.median(values) * 1000:10.1f} {max(values) * 1000:8.1f}"
        )
    all_groups = f"   {'all groups':<24} {sum(rules.values()):5.0f} {total * 1000:10.1f}"
    print(f"{all_groups} {worst * 1000:8.1f}   (target < 1000 ms)")
    print(f"   evaluation failures: {failures:.0f}; alerts pending or firing:")
    for key, count in sorted(firing.items()):
        print(f"     {count:4d}  {key}")


def run(count: int, rounds: int, with_rules: bool) -> None:
    if shutil.which(PROMETHEUS) is None:
        sys.exit(f"{PROMETHEUS} is missing (Debian package prometheus)")
    now = time.time()
    started = time.monotonic()
    fleet = make_fleet(count)
    answers = [
        _answer("503 Service Unavailable", b"collector stuck\n")
        if r.down
        else _answer("200 OK", exposition(agent_families(r, now)))
        for r in fleet
    ]
    answers.append(_answer("200 OK", exposition(controller_families(fleet, now))))
    made = time.monotonic() - started
    sizes = statistics.mean(len(a) for a in answers[:-1])
    workdir = Path(tempfile.mkdtemp(prefix="mk-bench-noc-"))
    try:
        with Exporters(answers) as served:
            targets = [
                AgentTarget(r.name, "127.0.0.1", port, r.role, "http")
                for r, port in zip(fleet, served.ports, strict=False)
            ]
            (workdir / "agents.json").write_text(file_sd(targets, NETWORK))
            rules = write_rules(workdir) if with_rules else []
            config = prometheus_config(served.ports[-1], rules)
            (workdir / "prometheus.yml").write_text(config)
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            with prometheus(workdir, port) as proc:
                print(
                    f"{count} routers, {len(answers) - 1} agent ports + the controller's "
                    f"exporter, {sizes / 1024:.1f} KiB an agent, made in {made:.1f} s; "
                    f"prometheus on {url}, scraping every {INTERVAL} s"
                )
                wait_for("readiness", lambda: _ready(url), proc)
                job = f'job="{contract.JOB_AGENTS}"'
                scraped = wait_for(
                    "two scrapes of every agent",
                    lambda: (
                        query_value(url, f"count(count_over_time(up{{{job}}}[1m]) >= 2)") == count
                    ),
                    proc,
                )
                series = sum(
                    s.value for s in own_metrics(url) if s.name == "prometheus_tsdb_head_series"
                )
                print(
                    f"two scrapes of all {count} in {scraped:.0f} s; {series:.0f} series "
                    f"in the head; {served.served} scrapes served"
                )
                bench_status(url, fleet, targets, rounds)
                if with_rules:
                    bench_rules(url, rounds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def write_rules(workdir: Path) -> list[str]:
    try:
        from controller.noc.rules import Timing, render_rules
    except ImportError:
        print("controller/noc/rules.py is missing: no rule evaluation bench")
        return []
    folder = workdir / "rules"
    folder.mkdir()
    names = []
    for name, text in render_rules(Timing(round_seconds=INTERVAL, scrape_seconds=INTERVAL)).items():
        (folder / name).write_text(text)
        names.append(f"rules/{name}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--routers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="timed repetitions (median)")
    parser.add_argument("--no-rules", action="store_true", help="skip the rule evaluation")
    parser.add_argument("--smoke", action="store_true", help="50 routers, 2 rounds")
    args = parser.parse_args()
    if args.smoke:
        args.routers, args.rounds = 50, 2
    run(max(args.routers, 2), max(args.rounds, 1), not args.no_rules)


if __name__ == "__main__":
    main()
