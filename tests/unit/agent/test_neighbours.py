"""neighbours collector: where each expected link is probed, and what it reports."""

from __future__ import annotations

import os
import socket

import pytest

from agent.collectors.base import Host
from agent.collectors.neighbours import NeighboursCollector, build, families, targets
from agent.config import AgentConfig, Listen, Mesh, Neighbour
from agent.errors import CollectorError
from agent.readers.icmp import EchoResult, EchoTarget, checksum, echo_request, parse_reply, ping
from tests.unit.agent.conftest import FIXTURES, exposition, promtool_problems, registry_of

NODE_B = (
    Neighbour("node-a", "100.64.10.1", "ethernet"),
    Neighbour("node-c", "100.64.10.3", "wifi"),
    Neighbour("node-d", "100.64.10.4", "wifi"),  # expected by the inventory, never heard
)


def dump(name: str) -> str:
    return (FIXTURES / "babeld" / name).read_text()


def test_babel_neighbours_are_probed_on_their_link_local_address_and_interface() -> None:
    where = targets(NODE_B, dump("node-b_dump_converged.txt"))
    a, c = where["node-a"], where["node-c"]
    assert a is not None and c is not None
    assert (a.address.startswith("fe80::"), a.interface) == (True, "veth-ba")
    assert c.interface == "veth-bc"
    assert where["node-d"] is None  # not heard: no probe, link down


def test_without_babel_the_mesh_address_is_probed() -> None:
    where = targets(NODE_B, None)
    assert where == {n.name: EchoTarget(n.address) for n in NODE_B}


def test_babeld_down_means_every_link_reads_down() -> None:
    assert set(targets(NODE_B, "").values()) == {None}


def test_every_expected_link_has_a_series_even_when_down() -> None:
    where = targets(NODE_B, dump("node-b_dump_converged.txt"))
    a, c = where["node-a"], where["node-c"]
    assert a is not None and c is not None
    results = {a: EchoResult(sent=3, rtts=[0.001, 0.002]), c: EchoResult(sent=3, rtts=[])}
    registry = registry_of(families(NODE_B, where, results))

    def value(metric: str, name: str) -> float | None:
        labels = {"neighbor": name, "medium": next(n.medium for n in NODE_B if n.name == name)}
        return registry.get_sample_value(metric, labels)

    assert [value("meshkeeper_link_up", n) for n in ("node-a", "node-c", "node-d")] == [1, 0, 0]
    assert value("meshkeeper_neighbor_loss_ratio", "node-a") == pytest.approx(1 / 3)
    assert value("meshkeeper_neighbor_loss_ratio", "node-c") == 1.0
    assert value("meshkeeper_neighbor_loss_ratio", "node-d") is None  # nothing was sent
    assert value("meshkeeper_neighbor_rtt_seconds", "node-a") == pytest.approx(0.0015)
    assert promtool_problems(exposition(families(NODE_B, where, results))) == ""


def test_collector_pings_only_what_babel_hears() -> None:
    config = _config("[::1]:33123")
    asked: list[list[EchoTarget]] = []

    def pinger(wanted: list[EchoTarget]) -> dict[EchoTarget, EchoResult]:
        asked.append(wanted)
        return {t: EchoResult(sent=3, rtts=[0.001] * 3) for t in wanted}

    collector = NeighboursCollector(config, lambda: dump("node-b_dump_converged.txt"), pinger)
    registry = registry_of(collector.collect())
    assert [t.interface for t in asked[0]] == ["veth-ba", "veth-bc"]
    up = registry.get_sample_value("meshkeeper_link_up", {"neighbor": "node-d", "medium": "wifi"})
    assert up == 0


def test_icmp_checksum_and_packet_shape() -> None:
    # RFC 1071's example words: 0001 f203 f4f5 f6f7 sum to 0xddf2, checksum 0x220d
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    request = echo_request(socket.AF_INET, 0x1234, 7)
    assert checksum(request) == 0  # a valid ICMP message sums to zero
    assert request[:2] == b"\x08\x00"
    reply = b"\x00\x00" + request[2:]
    assert parse_reply(socket.AF_INET, reply, raw=False) == (0x1234, 7)
    assert parse_reply(socket.AF_INET, request, raw=False) is None  # a request is no reply


@pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root (CI runs as root)")
def test_ping_loopback_for_real() -> None:
    """Real echoes over 127.0.0.1 and ::1 (the only addresses unit tests may use)."""
    v4, v6 = EchoTarget("127.0.0.1"), EchoTarget("::1")
    results = ping([v4, v6], count=2, spacing=0.05, wait=1.0)
    for target in (v4, v6):
        assert results[target].sent == 2
        assert results[target].received == 2
        assert all(0 < rtt < 1 for rtt in results[target].rtts)


def _config(local: str) -> AgentConfig:
    return AgentConfig(
        node="node-b",
        network="t",
        role="relay",
        release="23.05",
        model="m",
        listen=Listen("127.0.0.1", 9110),
        mesh=Mesh("babel", ("mesh0",), local),
        neighbours=NODE_B,
    )


def test_babeld_not_running_reads_every_link_down() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: connections are refused
    collector = build(_config(f"127.0.0.1:{port}"), Host(babel_timeout=1))
    registry = registry_of(collector.collect())  # nothing heard: nothing to ping
    for n in NODE_B:
        labels = {"neighbor": n.name, "medium": n.medium}
        assert registry.get_sample_value("meshkeeper_link_up", labels) == 0


def test_babeld_that_stalls_fails_the_round_instead_of_downing_every_link() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        port = silent.getsockname()[1]
        collector = build(_config(f"127.0.0.1:{port}"), Host(babel_timeout=0.3))
        with pytest.raises(CollectorError, match=r"babeld (did not finish|does not answer).*time"):
            collector.collect()
