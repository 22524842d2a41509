"""`meshkeeper status`'s fleet view: state.db joined with what the agents say, read
from a (fake) Prometheus in its real JSON shape or from real agent exporters."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

from agent import contract
from agent.config import Listen
from agent.exporter import MetricsServer
from agent.state import State
from controller.noc import fleet as fl
from controller.noc import fleet_table as ft
from controller.noc.api import NocUnreachable
from controller.noc.fleet import DOWN, NOT_SCRAPED, UP, Live, RouterStatus
from controller.noc.targets import AgentTarget
from controller.noc.terminal import columns
from controller.push.state import NodeState

INVENTORY = {"gw-market": "gateway", "relay-hill": "relay", "leaf-bus-stop": "leaf"}
SHUTDOWN = "international_shutdown{uplink=wan}"


def state(name: str, generation: int = 14, status: str = "applied", error: str = "") -> NodeState:
    return NodeState(name, generation, "h", "h", status, error or None, 0.0)


def healthy(generation: int = 14, verdict: tuple[str, ...] = ()) -> Live:
    return Live(UP, generation, False, 2, 2, (), verdict)


def rows_of(live: dict[str, Live] | None, *states: NodeState) -> dict[str, RouterStatus]:
    return {r.node: r for r in fl.fleet(INVENTORY, list(states), live)}


# ------------------------------------------------------------------ joining rules


def test_a_healthy_fleet_is_in_sync_and_not_failing() -> None:
    live = {n: healthy() for n in INVENTORY}
    rows = fl.fleet(INVENTORY, [state(n) for n in reversed(INVENTORY)], live)
    assert [r.node for r in rows] == list(INVENTORY)  # inventory order, not state.db's
    assert {r.config for r in rows} == {"in sync"}
    assert not fl.failing(rows)
    assert ft.fleet_table(rows).splitlines()[-1] == (
        "3 routers: 3 applied, 3 agents up, 3 in sync, all links up, verdict: ok"
    )


def test_never_pushed() -> None:
    rows = rows_of({n: healthy(generation=0) for n in INVENTORY}, state("gw-market"))
    never = rows["relay-hill"]
    assert (never.push, never.pushed, never.config) == ("never pushed", None, "unknown")
    assert not fl.failing([never])  # nothing pushed, nothing runs: nothing to fix
    assert rows["gw-market"].config == "behind: runs 0, pushed 14"
    assert fl.failing([rows["gw-market"]])


def test_rolled_back_fails_and_says_why() -> None:
    why = "the push was never confirmed; the router holds generation 13"
    rows = rows_of({"gw-market": healthy(13)}, state("gw-market", 13, "rolled_back", error=why))
    row = rows["gw-market"]
    assert (row.push, row.config, row.last_error) == ("rolled_back", "in sync", why)
    assert fl.failing([row])
    assert f"    last error: {why}" in ft.fleet_table([row]).splitlines()


def test_behind_ahead_and_pending() -> None:
    live = {
        "gw-market": healthy(12),
        "relay-hill": healthy(15),
        "leaf-bus-stop": Live(UP, 14, True, 1, 1, (), ()),
    }
    rows = rows_of(live, *(state(n) for n in INVENTORY))
    assert rows["gw-market"].config == "behind: runs 12, pushed 14"
    assert rows["relay-hill"].config == "ahead: runs 15, pushed 14"
    assert rows["leaf-bus-stop"].config == "pending confirm"
    assert all(fl.failing([r]) for r in rows.values())
    text = ft.fleet_table(list(rows.values()))
    assert "    config behind: runs 12, pushed 14" in text.splitlines()
    said = ft.summary(list(rows.values()), width=1000)[0]
    assert "3 agents up, 0 in sync, 1 ahead, 1 behind, 1 pending confirm," in said


def test_agent_down_or_unscraped() -> None:
    live = {"gw-market": Live(DOWN), "relay-hill": Live("no answer (connection refused)")}
    rows = rows_of(live, *(state(n) for n in INVENTORY))
    down, refused, absent = rows["gw-market"], rows["relay-hill"], rows["leaf-bus-stop"]
    assert (down.agent, down.config, down.links_up, down.verdict) == (DOWN, "unknown", None, None)
    assert fl.failing([down]) and fl.failing([refused])
    # Prometheus knows nothing of a router the inventory has: a segment cut off, or a
    # router added since the render; someone must look
    assert absent.agent == NOT_SCRAPED and fl.failing([absent])
    off = fl.fleet({"leaf-bus-stop": "leaf"}, [], {"leaf-bus-stop": Live(fl.NO_AGENT)})
    assert not fl.failing(off), "an agent the inventory disables is not missed"
    lines = ft.fleet_table(list(rows.values())).splitlines()
    assert lines[2].split()[3] == "down"  # relay-hill's AGENT cell
    assert "    agent: no answer (connection refused)" in lines
    said = ft.summary(list(rows.values()), width=1000)
    assert said == [
        "3 routers: 3 applied, 0 agents up, 2 down, 1 not scraped, 0 in sync, "
        "3 config unknown, all links up, verdict: none reported"
    ]


def test_links_and_verdicts() -> None:
    live = {
        "gw-market": Live(UP, 14, False, 2, 3, ("relay-hill",), (SHUTDOWN,)),
        "relay-hill": healthy(verdict=(SHUTDOWN,)),
        "leaf-bus-stop": healthy(),
    }
    rows = fl.fleet(INVENTORY, [state(n) for n in INVENTORY], live)
    assert fl.failing(rows[2:]) is False and fl.failing(rows[1:2]) and fl.failing(rows[:1])
    text = ft.fleet_table(rows)
    assert "    links down: relay-hill" in text.splitlines()
    assert ft.summary(rows, 1000)[0].endswith(", 1 link down, verdict: international_shutdown on 2")
    assert "1 link down" in text


def test_nodes_no_longer_in_the_inventory_come_last_marked() -> None:
    states = [state("aa-old-node", 3), *(state(n) for n in INVENTORY)]
    live = {n: healthy() for n in INVENTORY} | {"zz-still-scraped": Live(DOWN)}
    rows = fl.fleet(INVENTORY, states, live)
    assert [r.node for r in rows][3:] == ["aa-old-node", "zz-still-scraped"]
    assert [(r.in_inventory, r.role) for r in rows[3:]] == [(False, "-"), (False, "-")]
    assert rows[3].agent == NOT_SCRAPED and rows[3].pushed == 3
    text = ft.fleet_table(rows)
    assert text.count("    not in the inventory any more") == 2
    assert text.splitlines()[-2].startswith("3 routers (+2 no longer in the inventory): 3 applied")
    assert not fl.failing(rows[:3])


def test_push_state_alone_when_the_agents_are_not_asked() -> None:
    rows = rows_of(None, state("gw-market"), state("relay-hill", status="failed", error="x"))
    assert {r.agent for r in rows.values()} == {None}
    assert {r.config for r in rows.values()} == {"unknown"}
    assert not fl.failing([rows["gw-market"], rows["leaf-bus-stop"]])
    assert fl.failing([rows["relay-hill"]])
    assert ft.fleet_table(list(rows.values())).splitlines()[-1] == (
        "3 routers: 1 applied, 1 failed, 1 never pushed"
    )


def test_json_is_stable_and_complete() -> None:
    rows = fl.fleet(INVENTORY, [state("gw-market")], {"gw-market": healthy(verdict=(SHUTDOWN,))})
    first = fl.fleet_json(rows)
    assert first == fl.fleet_json(rows)
    data = json.loads(first)
    assert [d["node"] for d in data] == list(INVENTORY)
    assert data[0]["verdict"] == [SHUTDOWN] and data[0]["links_down"] == []
    assert list(data[0]) == list(RouterStatus.__dataclass_fields__)


# -------------------------------------------------------------- fake Prometheus


@dataclass
class Router:
    """The series one agent has in Prometheus."""

    up: int = 1
    generation: float | None = 14
    pending: float = 0
    links: dict[str, float] = field(default_factory=lambda: {"relay-hill": 1.0})
    verdict: list[dict[str, str]] = field(default_factory=lambda: [{"class": "ok"}])


def _vector(samples: list[tuple[dict[str, str], float]]) -> dict[str, Any]:
    result = [{"metric": m, "value": [1700000000.123, _value(v)]} for m, v in samples]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def _value(v: float) -> str:
    return "NaN" if v != v else f"{v:g}"


def answer_for(fleet: dict[str, Router]) -> Callable[[str], Any]:
    """What Prometheus answers each of live_from_prometheus's queries, dispatched on the
    query text (it runs the same queries whatever the fleet)."""

    def answer(query: str) -> Any:
        up = {n: r for n, r in fleet.items() if r.up}
        if "(up{" in query:
            return _vector([({"node": n}, float(r.up)) for n, r in fleet.items()])
        if contract.M_CONFIG_GENERATION in query:
            gens = [({"node": n}, r.generation) for n, r in up.items()]
            return _vector([(m, g) for m, g in gens if g is not None])
        if contract.M_CONFIG_PENDING in query:
            return _vector([({"node": n}, r.pending) for n, r in up.items()])
        if contract.M_LINK_UP in query and "!= 1" in query:
            down = [(n, nb) for n, r in up.items() for nb, v in r.links.items() if v != 1]
            return _vector([({"node": n, "neighbor": nb}, 1) for n, nb in down])
        if contract.M_LINK_UP in query:
            only_up = "== 1" in query
            counted = [
                ({"node": n}, float(sum(v == 1 or not only_up for v in r.links.values())))
                for n, r in up.items()
            ]
            return _vector([(m, c) for m, c in counted if c])  # count drops empty groups
        if contract.M_VERDICT in query:
            return _vector([({"node": n, **v}, 1) for n, r in up.items() for v in r.verdict])
        return {"status": "error", "errorType": "bad_data", "error": f"unknown query {query}"}

    return answer


class FakePrometheus:
    """/api/v1/query on 127.0.0.1, answering with `answer(query)` as JSON."""

    def __init__(self, answer: Callable[[str], Any], status: int = 200) -> None:
        self.queries: list[str] = []
        encoded: dict[str, bytes] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # as Prometheus speaks

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query).get("query", [""])[0]
                fake.queries.append(query)
                if query not in encoded:
                    encoded[query] = json.dumps(answer(query)).encode()
                body = encoded[query] if url.path == "/api/v1/query" else b"{}"
                self.send_response(status if url.path == "/api/v1/query" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> FakePrometheus:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def test_live_from_prometheus_reads_each_router() -> None:
    fleet = {
        "gw-market": Router(
            links={"relay-hill": 1, "gw-school": 0},
            verdict=[{"class": "international_shutdown", "uplink": "wan"}],
        ),
        "relay-hill": Router(generation=12, pending=1),
        "leaf-bus-stop": Router(up=0),
        "leaf-new": Router(generation=None, links={}, verdict=[]),
    }
    with FakePrometheus(answer_for(fleet)) as prom:
        live = fl.live_from_prometheus(prom.url, timeout=5)
    assert live == {
        "gw-market": Live(UP, 14, False, 1, 2, ("gw-school",), (SHUTDOWN,)),
        "relay-hill": Live(UP, 12, True, 1, 1, (), ()),
        "leaf-bus-stop": Live(DOWN),
        "leaf-new": Live(UP, None, False, 0, 0, (), None),
    }
    assert len(prom.queries) == 7  # a handful of queries for the fleet, none per node
    assert all(f'job="{contract.JOB_AGENTS}"' in q for q in prom.queries)


def test_the_queries_select_one_network_when_asked() -> None:
    with FakePrometheus(answer_for({"gw-market": Router()})) as prom:
        fl.live_from_prometheus(prom.url, timeout=5, network='mesh"x')
    assert all('network="mesh\\"x"' in q for q in prom.queries)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool")
def test_the_queries_mean_what_the_fleet_view_reads(tmp_path: Path) -> None:
    """Prometheus's own engine (promtool's rule tests) evaluates every query against
    series shaped like the agents' and answers what the fake Prometheus answers."""
    job = f'job="{contract.JOB_AGENTS}"'
    series = {
        f'up{{{job},node="a",instance="x:1"}}': "1",
        f'up{{{job},node="b",instance="x:2"}}': "0",
        f'{contract.M_CONFIG_GENERATION}{{{job},node="a"}}': "14",
        f'{contract.M_CONFIG_PENDING}{{{job},node="a"}}': "0",
        f'{contract.M_LINK_UP}{{{job},node="a",neighbor="b",medium="wifi"}}': "0",
        f'{contract.M_LINK_UP}{{{job},node="a",neighbor="c",medium="wifi"}}': "1",
        f'{contract.M_VERDICT}{{{job},node="a",class="ok"}}': "0",
        f'{contract.M_VERDICT}{{{job},node="a",class="isp_outage",uplink="wan"}}': "1",
        f'{contract.M_VERDICT}{{{job},node="a",class="anomaly",uplink="wan"}}': "0",
        f'{contract.M_CONFIG_GENERATION}{{job="other",node="z"}}': "1",
    }
    expected = {
        "up": [('{node="a"}', 1), ('{node="b"}', 0)],
        "generation": [('{node="a"}', 14)],
        "pending": [('{node="a"}', 0)],
        "links": [('{node="a"}', 2)],
        "links_up": [('{node="a"}', 1)],
        "links_down": [('{neighbor="b",node="a"}', 1)],
        "verdict": [('{class="isp_outage",node="a",uplink="wan"}', 1)],
    }
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "promql_expr_test": [
                    {
                        "expr": query,
                        "eval_time": "0m",
                        "exp_samples": [{"labels": m, "value": v} for m, v in expected[name]],
                    }
                    for name, query in fl._queries(None).items()
                ],
            }
        ],
    }
    (tmp_path / "t.yml").write_text(yaml.safe_dump(tests))
    done = subprocess.run(
        ["promtool", "test", "rules", "t.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


BAD_SAMPLES: list[Any] = [
    "a string",
    {"metric": {"node": "x1"}},
    {"metric": {"node": "x2"}, "value": "1"},
    {"metric": {"node": "x3"}, "value": [1, "1", 2]},
    {"metric": {"node": "x4"}, "value": [1, "one"]},
    {"metric": {"node": "x5"}, "value": [1, 1]},
    {"metric": {"node": "x6"}, "value": [1, "9" * 100]},
    {"metric": {"node": 7}, "value": [1, "1"]},
    {"metric": {"node": ""}, "value": [1, "1"]},
    {"metric": ["node", "x8"], "value": [1, "1"]},
    {"metric": {}, "value": [1, "1"]},
]


def test_bad_samples_are_skipped_and_odd_values_read_as_nothing() -> None:
    good = answer_for({"gw-market": Router(), "relay-hill": Router()})

    def answer(query: str) -> Any:
        base = good(query)
        base["data"]["result"] += BAD_SAMPLES
        if contract.M_CONFIG_GENERATION in query:
            base["data"]["result"][1]["value"][1] = "1e300"  # relay-hill: no generation
        return base

    with FakePrometheus(answer) as prom:
        live = fl.live_from_prometheus(prom.url, timeout=5)
    assert set(live) == {"gw-market", "relay-hill"}
    assert live["gw-market"].generation == 14 and live["relay-hill"].generation is None


@pytest.mark.parametrize(
    ("answer", "status", "says"),
    [
        ({"status": "error", "error": "parse error \x1b[2J"}, 200, "refused a query: parse"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, 200, "a vector"),
        ({"status": "success", "data": {"resultType": "vector", "result": {}}}, 200, "a vector"),
        ([1, 2], 200, "something else than an object"),
        ({"status": "error", "error": "bad"}, 400, "HTTP 400"),
        (_vector([]), 200, "scrapes no meshkeeper agent"),
    ],
)
def test_an_unusable_prometheus_answer_is_one_clear_error(
    answer: Any, status: int, says: str
) -> None:
    with FakePrometheus(lambda _q: answer, status) as prom, pytest.raises(NocUnreachable) as caught:
        fl.live_from_prometheus(prom.url, timeout=5)
    assert says in str(caught.value) and "\x1b" not in str(caught.value)


def test_prometheus_that_is_not_there() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(NocUnreachable, match=r"cannot ask 127\.0\.0\.1"):
        fl.live_from_prometheus(f"http://127.0.0.1:{port}", timeout=2)


HOSTILE = [
    "\x1b[31mred\x1b[0m",
    "evil\u202eesrever",
    "line\nbreak\rcarriage",
    "宽" * 120,
    "e\u0301" * 200,
    "x" * 5000,
    "a,b=c}{",
]


def test_hostile_label_values_are_escaped_and_every_line_fits() -> None:
    fleet = {
        f"gw-{i}": Router(
            links=dict.fromkeys(HOSTILE, 0.0),
            verdict=[
                {"class": "platform_blocked", "uplink": "wan", "platform": h, "layer": "tls_sni"}
                for h in HOSTILE
            ]
            + [{"class": h, "target": h} for h in HOSTILE],
        )
        for i in range(3)
    } | {h: Router(up=0) for h in HOSTILE}  # a node label Prometheus should never have
    with FakePrometheus(answer_for(fleet)) as prom:
        live = fl.live_from_prometheus(prom.url, timeout=5)
    rows = fl.fleet({"gw-0": "gateway", "gw-1": "gateway"}, [state("gw-0")], live)
    text = ft.fleet_table(rows)
    assert fl.failing(rows)
    for line in text.splitlines():
        assert columns(line) <= 80 and len(line) <= 80, line
        assert line.isprintable(), line  # no ESC, bidi override, CR or LF inside a line
    assert "\\x1b[31mred" in text and "\\u202e" in text
    assert json.loads(fl.fleet_json(rows))[0]["links_down"][0] == sorted(HOSTILE)[0]
    narrow = ft.fleet_table(rows, width=60)
    assert max(columns(line) for line in narrow.splitlines()) <= 60


def test_a_long_verdict_is_abbreviated_then_written_out_under_the_row() -> None:
    blocked = "platform_blocked{uplink=wan,platform=chat,layer=tls_sni}"
    one = fl.fleet(
        {"gw-market": "gateway"}, [state("gw-market")], {"gw-market": healthy(verdict=(SHUTDOWN,))}
    )
    said = {width: ft.fleet_table(one, width).splitlines()[1].split()[-1] for width in (90, 80, 64)}
    assert said == {90: SHUTDOWN, 80: "international_shutdown{wan}", 64: "intl_shut{wan}"}
    two = fl.fleet(
        {"gw-market": "gateway"},
        [state("gw-market", status="rolled_back")],
        {"gw-market": healthy(verdict=(SHUTDOWN, blocked, "anomaly{uplink=wan2,target=x}"))},
    )
    lines = ft.fleet_table(two).splitlines()
    assert lines[1].endswith(("intl_shut, blocked, anomaly", "intl_shut +2"))
    assert lines[2:4] == [
        "    verdict: international_shutdown{uplink=wan},",
        "      platform_blocked{uplink=wan,platform=chat,layer=tls_sni},",
    ]


def test_a_thousand_routers_from_prometheus_in_well_under_a_second() -> None:
    fleet = {
        f"node-{i:04d}": Router(
            links={f"node-{(i + d) % 1000:04d}": float(i % 97 != 0) for d in (1, 2, 3)},
            verdict=[{"class": "international_shutdown", "uplink": "wan"}]
            if i % 10 == 0
            else [{"class": "ok"}],
        )
        for i in range(1000)
    }
    inventory = dict.fromkeys(fleet, "leaf")
    states = [state(name) for name in fleet]
    with FakePrometheus(answer_for(fleet)) as prom:
        fl.live_from_prometheus(prom.url, timeout=5)  # the fake encodes its answers once
        started = time.perf_counter()
        live = fl.live_from_prometheus(prom.url, timeout=5)
        rows = fl.fleet(inventory, states, live)
        text = ft.fleet_table(rows)
        took = time.perf_counter() - started
    assert len(rows) == 1000 and "verdict: international_shutdown on 100" in text
    assert "33 links down" in text  # 11 routers see none of their 3 links
    assert took < 1.0, f"{took:.2f} s"


# ------------------------------------------------------------ real agent exporters


def _families(generation: int, pending: int, links: dict[str, int], held: str) -> list[Any]:
    gen = GaugeMetricFamily(contract.M_CONFIG_GENERATION, "", value=generation)
    wait = GaugeMetricFamily(contract.M_CONFIG_PENDING, "", value=pending)
    info = InfoMetricFamily(contract.M_CONFIG, "")
    info.add_metric([], {"hash": "abc"})
    link = GaugeMetricFamily(contract.M_LINK_UP, "", labels=["neighbor", "medium"])
    for neighbor, up in links.items():
        link.add_metric([neighbor, "wifi"], up)
    verdict = GaugeMetricFamily(contract.M_VERDICT, "", labels=list(contract.VERDICT_LABELS))
    for cls, uplink in (("ok", ""), ("international_shutdown", "wan"), ("isp_outage", "wan")):
        verdict.add_metric([cls, uplink, "", "", ""], float(cls == held))
    return [gen, wait, info, link, verdict]


@contextmanager
def agents(*readings: list[Any]) -> Iterator[list[int]]:
    """Real agent exporters on 127.0.0.1, one per reading: their ports."""
    servers = [MetricsServer(Listen("127.0.0.1", 0), State(r)) for r in readings]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield [s.server_address[1] for s in servers]
    finally:
        for server, thread in zip(servers, threads, strict=True):
            server.shutdown()
            server.server_close()
            thread.join(5)


def _targets(ports: dict[str, int]) -> list[AgentTarget]:
    return [AgentTarget(n, "127.0.0.1", p, INVENTORY[n], "http") for n, p in ports.items()]


def test_live_from_agents_reads_real_exporters() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        gone = probe.getsockname()[1]
    shutdown = _families(14, 0, {"relay-hill": 1, "gw-school": 0}, "international_shutdown")
    with agents(shutdown, _families(12, 0, {"gw-market": 1}, "ok")) as ports:
        targets = _targets({"gw-market": ports[0], "relay-hill": ports[1], "leaf-bus-stop": gone})
        live = fl.live_from_agents(targets, timeout=5)
    pending = live["gw-market"].pending  # see the next test
    assert live["gw-market"] == Live(UP, 14, pending, 1, 2, ("gw-school",), (SHUTDOWN,))
    assert live["relay-hill"] == Live(UP, 12, live["relay-hill"].pending, 1, 1, (), ())
    assert live["leaf-bus-stop"].agent.startswith("no answer")
    rows = fl.fleet(INVENTORY, [state(n) for n in INVENTORY], live)
    assert [r.config for r in rows] == ["in sync", "behind: runs 12, pushed 14", "unknown"]
    assert fl.failing(rows)
    lines = ft.fleet_table(rows).splitlines()
    cells = ["gw-market", "applied", "#14", "up", "in", "sync", "1/2"]
    assert lines[1].split() == [*cells, "international_shutdown{wan}"]
    assert lines[-1].endswith("verdict: international_shutdown on 1")


def test_live_from_agents_sees_a_push_waiting_for_its_confirm() -> None:
    with agents(_families(15, 1, {}, "ok")) as ports:
        live = fl.live_from_agents(_targets({"gw-market": ports[0]}), timeout=5)
    assert live["gw-market"].pending is True
    assert fl.fleet(INVENTORY, [state("gw-market", 15)], live)[0].config == "pending confirm"
