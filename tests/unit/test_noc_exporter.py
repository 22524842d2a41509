"""`meshkeeper monitoring exporter`: state.db as the controller's push metrics."""

from __future__ import annotations

import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from agent import contract
from controller.noc.exporter import families, make_server, read_states
from controller.push.state import NodeState, StateStore

PROMTOOL = "/usr/bin/promtool"


def _state(name: str, status: str, generation: int = 3, updated: float = 1700000000.5) -> NodeState:
    return NodeState(name, generation, "r", "a", status, None, updated)


def _samples(states: list[NodeState]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families(states)
        for sample in family.samples
    }


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def test_push_state_is_one_hot_over_every_state() -> None:
    samples = _samples([_state("gw-market", "applied"), _state("leaf-hillside", "rolled_back")])
    for node, held in (("gw-market", "applied"), ("leaf-hillside", "rolled_back")):
        for state in contract.PUSH_STATES:
            key = (contract.M_PUSH_STATE, (("node", node), ("state", state)))
            assert samples[key] == (1.0 if state == held else 0.0), (node, state)
    states = [key for key in samples if key[0] == contract.M_PUSH_STATE]
    assert len(states) == 2 * len(contract.PUSH_STATES)


def test_generation_and_since_per_node() -> None:
    samples = _samples([_state("relay-clinic", "pending", generation=7, updated=1234.25)])
    assert samples[(contract.M_PUSH_GENERATION, (("node", "relay-clinic"),))] == 7.0
    assert samples[(contract.M_PUSH_SINCE, (("node", "relay-clinic"),))] == 1234.25


def test_no_nodes_no_series() -> None:
    assert all(family.samples == [] for family in families([]))


def test_read_states_from_the_push_store(tmp_path: Path) -> None:
    db = tmp_path / ".meshkeeper" / "state.db"
    with StateStore(db) as store:
        store.set_rendered("gw-school", "hash-r")
        store.set_status("gw-school", "applied", generation=4, applied_hash="hash-a")
        store.set_status("leaf-library", "unreachable", error="no route")
    states = read_states(db)
    assert [(s.name, s.status, s.generation) for s in states] == [
        ("gw-school", "applied", 4),
        ("leaf-library", "unreachable", 0),
    ]
    assert states[0].applied_hash == "hash-a" and states[1].last_error == "no route"


def test_read_states_without_a_db_is_empty_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    assert read_states(db) == []
    assert not db.exists()


def test_read_states_never_writes(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with StateStore(db) as store:
        store.set_status("gw-market", "applied", generation=1)
    db.chmod(0o444)
    before = db.read_bytes()
    assert [s.name for s in read_states(db)] == ["gw-market"]
    assert db.read_bytes() == before


@contextmanager
def _serving(db: Path) -> Iterator[str]:
    server = make_server(db, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - our loopback server
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()


def _scrape(base: str) -> list[Sample]:
    status, kind, text = _get(base + "/metrics")
    assert status == 200 and kind.startswith("text/plain; version=0.0.4")
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def test_server_answers_metrics_and_sees_later_pushes(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with StateStore(db) as store, _serving(db) as base:
        assert not [s for s in _scrape(base) if s.name.startswith(contract.M_PUSH_STATE)]
        store.set_status("gw-market", "applying", generation=2)
        samples = _scrape(base)
        assert _value(samples, contract.M_PUSH_STATE, node="gw-market", state="applying") == 1
        assert _value(samples, contract.M_PUSH_STATE, node="gw-market", state="applied") == 0
        assert _value(samples, contract.M_PUSH_GENERATION, node="gw-market") == 2
        # another process finishes the push: the next scrape reads state.db afresh
        store.set_status("gw-market", "applied", generation=2)
        store.set_status("gw-school", "failed", generation=1)
        samples = _scrape(base)
        assert _value(samples, contract.M_PUSH_STATE, node="gw-market", state="applying") == 0
        assert _value(samples, contract.M_PUSH_STATE, node="gw-market", state="applied") == 1
        assert _value(samples, contract.M_PUSH_STATE, node="gw-school", state="failed") == 1
        since = _value(samples, contract.M_PUSH_SINCE, node="gw-school")
        assert since == pytest.approx(store.nodes()[1].updated)


def test_server_without_a_db_serves_no_nodes(tmp_path: Path) -> None:
    with _serving(tmp_path / "state.db") as base:
        names = {s.name for s in _scrape(base)}
    assert not {n for n in names if n.startswith("meshkeeper_")}


@pytest.mark.parametrize("path", ["/", "/metricsx", "/state.db", "/../metrics"])
def test_server_serves_only_metrics(tmp_path: Path, path: str) -> None:
    db = tmp_path / "state.db"
    with StateStore(db) as store:
        store.set_status("gw-market", "applied", generation=1)
    with _serving(db) as base:
        status, _, body = _get(base + path)
    assert status == 404
    assert "gw-market" not in body


def test_metrics_with_a_query_string(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with StateStore(db) as store:
        store.set_status("leaf-riverbank", "drifted", generation=5)
    with _serving(db) as base:
        status, _, text = _get(base + "/metrics?name[]=x")
    assert status == 200 and "leaf-riverbank" in text


def test_an_unreadable_db_is_a_503_not_a_crash(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not sqlite, it is long enough to have a header" * 4)
    with _serving(db) as base:
        status, _, _ = _get(base + "/metrics")
        assert status == 503
        db.unlink()
        with StateStore(db) as store:
            store.set_status("gw-market", "applied", generation=1)
        assert _value(_scrape(base), contract.M_PUSH_GENERATION, node="gw-market") == 1


def test_promtool_accepts_the_exposition(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with StateStore(db) as store:
        for number, (node, status) in enumerate(
            [("gw-market", "applied"), ("relay-clinic", "rolled_back"), ("leaf-x", "pending")]
        ):
            store.set_status(node, status, generation=number)
    with _serving(db) as base:
        status, _, text = _get(base + "/metrics")
    assert status == 200 and "relay-clinic" in text
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == "", "lint warnings"
