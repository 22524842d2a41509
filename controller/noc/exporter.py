"""`meshkeeper monitoring exporter`: the push state store as metrics, for the NOC.

Prometheus scrapes it (job contract.JOB_CONTROLLER, honor_labels) so the rules can
tell what the controller did apart from what the routers run: ConfigDrift
compares the generation a router runs with the one pushed to it, and
ConfigRolledBack and ConfigPendingTooLong read the push states.

    M_PUSH_STATE{node,state}   1 for the state the node is in, 0 for the others
    M_PUSH_GENERATION{node}    the generation the controller pushed (applied or not)
    M_PUSH_SINCE{node}         when the node entered that state (unix time)

state.db is read afresh at every scrape (a push in another process updates it),
read-only; nothing else is served. Node names are the inventory's (hostnames).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agent import contract
from controller.push.state import NodeState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REQUEST_TIMEOUT = 10.0  # seconds a client has to send its request: a slow one loses its thread


def read_states(db: Path) -> list[NodeState]:
    """The nodes table, opened read-only (no state.db yet: no nodes)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute(
            "SELECT name, generation, rendered_hash, applied_hash, status, last_error, updated "
            "FROM nodes ORDER BY name"
        ).fetchall()
    finally:
        conn.close()
    return [NodeState(*row) for row in rows]


def families(states: list[NodeState]) -> list[Metric]:
    state = GaugeMetricFamily(
        contract.M_PUSH_STATE,
        "The controller's push state of the node: 1 for the state it is in.",
        labels=["node", "state"],
    )
    generation = GaugeMetricFamily(
        contract.M_PUSH_GENERATION,
        "The config generation the controller last pushed to the node.",
        labels=["node"],
    )
    since = GaugeMetricFamily(
        contract.M_PUSH_SINCE,
        "When the node entered its push state (unix time).",
        labels=["node"],
    )
    for node in states:
        for name in contract.PUSH_STATES:
            state.add_metric([node.name, name], 1.0 if node.status == name else 0.0)
        generation.add_metric([node.name], float(node.generation))
        since.add_metric([node.name], node.updated)
    return [state, generation, since]


class StateCollector(Collector):
    def __init__(self, db: Path) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        yield from families(read_states(self._db))


def make_server(db: Path, address: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server answering GET /metrics from `db`; serve_forever() runs it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(db))
    lock = threading.Lock()  # sqlite and the registry, one scrape at a time

    class Handler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT

        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            try:
                with lock:
                    body = generate_latest(registry)
            except sqlite3.Error as exc:
                self.send_error(503, f"state.db: {type(exc).__name__}")
                return
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # a scrape every 15 s is not news

    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    return server
