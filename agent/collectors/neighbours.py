"""`neighbours`: is each expected link up? ICMP echo across it, every round.

The inventory says which nodes this one should see directly (agent.json
`neighbours`); each gets a series, so a missing link reads 0, never absent.

With babel, a neighbour is probed at its link-local address on the interface
babel hears it on: the echo crosses that one link and cannot be routed around
it through another node, as a probe to its mesh address (a /32 babel routes)
would be. An expected neighbour babel does not hear is down.

Without babel the mesh address is probed. With batman-adv that measures
reachability across bat0, which batman routes at layer 2 around a broken
direct link: link_up then says "reachable", not "the direct link works" (the
batman_adv collector's neighbour table shows direct links, by MAC, since the
inventory does not know the routers' MACs).

    meshkeeper_link_up{neighbor,medium}              1 when echoes came back this round
    meshkeeper_neighbor_loss_ratio{neighbor,medium}  share of this round's echoes lost
    meshkeeper_neighbor_rtt_seconds{neighbor,medium} mean round-trip time of the replies
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.core import GaugeMetricFamily, Metric

from agent import contract
from agent.collectors.babel import BabeldNotRunning, parse_dump, read_dump
from agent.collectors.base import CollectorSpec, Host
from agent.config import AgentConfig, Neighbour
from agent.readers.icmp import EchoResult, EchoTarget, ping

ECHOES_PER_ROUND = 3

Pinger = Callable[[list[EchoTarget]], dict[EchoTarget, EchoResult]]


def targets(
    neighbours: tuple[Neighbour, ...], babel_dump: str | None
) -> dict[str, EchoTarget | None]:
    """Where to probe each expected neighbour; None when babel does not hear it at all."""
    if babel_dump is None:
        return {n.name: EchoTarget(n.address) for n in neighbours}
    heard = {
        name: key
        for key, name in parse_dump(babel_dump)
        .names({n.address: n.name for n in neighbours})
        .items()
    }
    return {n.name: EchoTarget(*heard[n.name]) if n.name in heard else None for n in neighbours}


def families(
    neighbours: tuple[Neighbour, ...],
    where: dict[str, EchoTarget | None],
    results: dict[EchoTarget, EchoResult],
) -> list[Metric]:
    labels = ["neighbor", "medium"]
    up = GaugeMetricFamily(
        contract.M_LINK_UP,
        "1 when the expected link to the neighbour answered echoes this round, else 0.",
        labels=labels,
    )
    loss = GaugeMetricFamily(
        contract.M_NEIGHBOR_LOSS,
        "Share of this round's echoes to the neighbour lost.",
        labels=labels,
    )
    rtt = GaugeMetricFamily(
        "meshkeeper_neighbor_rtt_seconds",
        "Mean round-trip time of this round's echoes.",
        labels=labels,
    )
    for n in neighbours:
        target = where.get(n.name)
        result = results.get(target) if target is not None else None
        key = [n.name, n.medium]
        up.add_metric(key, 1.0 if result is not None and result.received else 0.0)
        if result is not None and result.sent:
            loss.add_metric(key, result.loss_ratio)
        if result is not None and result.rtts:
            rtt.add_metric(key, sum(result.rtts) / len(result.rtts))
    return [up, loss, rtt]


class NeighboursCollector:
    def __init__(
        self, config: AgentConfig, read_babel: Callable[[], str] | None, pinger: Pinger
    ) -> None:
        self._neighbours = config.neighbours
        self._read_babel = read_babel
        self._ping = pinger

    def collect(self) -> list[Metric]:
        dump = self._read_babel() if self._read_babel is not None else None
        where = targets(self._neighbours, dump)
        results = self._ping([t for t in where.values() if t is not None])
        return families(self._neighbours, where, results)

    def close(self) -> None:
        return None


def _babel_reader(config: AgentConfig, host: Host) -> Callable[[], str] | None:
    local = config.mesh.babel_local
    if config.mesh.protocol != "babel" or local is None:
        return None

    def read() -> str:
        try:
            return read_dump(local, host.babel_timeout)
        except BabeldNotRunning:
            return ""  # babeld is not running: no neighbour is heard, every link reads 0
        # any other failure (a timeout, a refused dump) is not "every link is down":
        # it fails this round (success 0) instead of raising false link-down alerts

    return read


def build(config: AgentConfig, host: Host) -> NeighboursCollector:
    return NeighboursCollector(
        config, _babel_reader(config, host), lambda t: ping(t, count=ECHOES_PER_ROUND)
    )


SPEC = CollectorSpec("neighbours", 15.0, build, "echo across each expected link: up, loss, rtt")
