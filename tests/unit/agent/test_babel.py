"""babel collector: parsing real babeld dumps, naming neighbours, the socket protocol."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.collectors.babel import BabelCollector, endpoint, families, parse_dump, read_dump
from agent.config import AgentConfig, Listen, Mesh, Neighbour
from agent.errors import CollectorError
from tests.unit.agent.conftest import FIXTURES, exposition, promtool_problems, registry_of

DUMPS = FIXTURES / "babeld"
# The capture's nodes originate 100.64.10.{1,2,3}/32 (tests/fixtures/babeld/PROVENANCE.md)
EXPECTED = {"100.64.10.1": "node-a", "100.64.10.2": "node-b", "100.64.10.3": "node-c"}


def dump(name: str) -> str:
    return (DUMPS / name).read_text()


def test_middle_node_sees_both_neighbours_with_their_costs() -> None:
    parsed = parse_dump(dump("node-b_dump_converged.txt"))
    by_if = {n.interface: n for n in parsed.neighbours}
    assert set(by_if) == {"veth-ba", "veth-bc"}
    wireless = by_if["veth-bc"]  # declared `type wireless`: no rtt field
    assert (wireless.cost, wireless.rtt_ms, wireless.reach) == (256, None, 0xFFFE)
    assert wireless.reach_ratio == 15 / 16
    wired = by_if["veth-ba"]
    assert wired.rtt_ms is not None and wired.rtt_ms > 0
    assert parsed.interfaces_up == 2
    assert len(parsed.routes) == 8
    assert any(not r.installed for r in parsed.routes)  # alternatives kept


def test_reach_with_holes_after_a_link_flap() -> None:
    parsed = parse_dump(dump("node-a_dump_after_linkflap.txt"))
    (neighbour,) = parsed.neighbours
    assert neighbour.rxcost >= 96
    assert 0 < neighbour.reach_ratio <= 1


def test_neighbours_are_named_by_the_prefix_they_originate() -> None:
    parsed = parse_dump(dump("node-b_dump_converged.txt"))
    names = parsed.names(EXPECTED)
    assert sorted(names.values()) == ["node-a", "node-c"]
    for (address, interface), name in names.items():
        assert address.startswith("fe80::")
        assert interface == {"node-a": "veth-ba", "node-c": "veth-bc"}[name]


def test_a_two_hop_node_is_not_taken_for_a_neighbour() -> None:
    # node-a hears only node-b; node-c's prefix reaches it with refmetric > 0
    names = parse_dump(dump("node-a_dump_converged.txt")).names(EXPECTED)
    assert list(names.values()) == ["node-b"]


def test_daemon_without_neighbours_gives_empty_but_valid_families() -> None:
    parsed = parse_dump(dump("node-a_nc_dump_after_kill.txt"))
    assert parsed.neighbours == [] and parsed.interfaces_up == 1
    text = exposition(families(parsed, EXPECTED))
    assert "meshkeeper_babel_interfaces_up 1.0" in text
    assert promtool_problems(text) == ""


@pytest.mark.parametrize("name", sorted(p.name for p in DUMPS.glob("*.txt")))
def test_every_recorded_dump_exports_clean_metrics(name: str) -> None:
    parsed = parse_dump(dump(name))
    registry = registry_of(families(parsed, EXPECTED))
    for n in parsed.neighbours:
        label = parsed.names(EXPECTED).get((n.address, n.interface), n.address)
        labels = {"neighbor": label, "interface": n.interface}
        assert registry.get_sample_value("meshkeeper_babel_neighbor_cost", labels) == n.cost
    installed = sum(r.installed for r in parsed.routes)
    assert registry.get_sample_value("meshkeeper_babel_routes", {"installed": "true"}) == installed
    assert promtool_problems(exposition(families(parsed, EXPECTED))) == ""


def test_endpoint_forms() -> None:
    assert endpoint("[::1]:33123") == (socket.AF_INET6, ("::1", 33123))
    assert endpoint("127.0.0.1:33123") == (socket.AF_INET, ("127.0.0.1", 33123))
    assert endpoint("/var/run/babeld.sock") == (socket.AF_UNIX, "/var/run/babeld.sock")


@contextmanager
def _replay(recorded: bytes, chunk: int) -> Iterator[tuple[int, threading.Event, list[bytes]]]:
    """A local server that answers like babeld: the recorded banner, then the dump."""
    banner, _, rest = recorded.partition(b"ok\n")
    server = socket.create_server(("127.0.0.1", 0))
    asked: list[bytes] = []
    done = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(banner + b"ok\n")
            asked.append(conn.recv(100))
            for i in range(0, len(rest), chunk):  # babeld writes in pieces too
                conn.sendall(rest[i : i + chunk])
            asked.append(conn.recv(100))
        done.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], done, asked
    finally:
        thread.join(5)
        server.close()


@pytest.mark.parametrize("chunk", [7, 4096])
def test_read_dump_speaks_babeld_local_protocol(chunk: int) -> None:
    recorded = (DUMPS / "node-b_dump_converged.txt").read_bytes()
    with _replay(recorded, chunk) as (port, done, asked):
        text = read_dump(f"127.0.0.1:{port}", timeout=5)
        assert done.wait(5)
        assert asked == [b"dump\n", b"quit\n"]
        assert parse_dump(text) == parse_dump(recorded.decode())


def test_no_babeld_is_a_collector_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    with pytest.raises(CollectorError, match=r"babeld does not answer on 127\.0\.0\.1"):
        read_dump(f"127.0.0.1:{port}", timeout=1)


def test_collector_labels_neighbours_with_inventory_names(tmp_path: Path) -> None:
    del tmp_path
    config = AgentConfig(
        node="node-b",
        network="t",
        role="relay",
        release="23.05",
        model="m",
        listen=Listen("127.0.0.1", 9110),
        mesh=Mesh("babel", ("mesh0",), "[::1]:33123"),
        neighbours=(
            Neighbour("node-a", "100.64.10.1", "ethernet"),
            Neighbour("node-c", "100.64.10.3", "wifi"),
        ),
    )
    collector = BabelCollector(config, lambda: dump("node-b_dump_converged.txt"))
    registry = registry_of(collector.collect())
    labels = {"neighbor": "node-c", "interface": "veth-bc"}
    assert registry.get_sample_value("meshkeeper_babel_neighbor_reach_ratio", labels) == 15 / 16
    assert registry.get_sample_value("meshkeeper_babel_neighbor_rtt_seconds", labels) is None
    wired = {"neighbor": "node-a", "interface": "veth-ba"}
    rtt = registry.get_sample_value("meshkeeper_babel_neighbor_rtt_seconds", wired)
    assert rtt is not None and 0 < rtt < 1  # milliseconds became seconds
