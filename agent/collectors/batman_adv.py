"""`batman_adv`: batman-adv's neighbours, originators and gateways (B.A.T.M.A.N. IV and V).

The tables come from agent/readers/batadv.py: generic netlink family `batadv` first,
`batctl meshif bat0 nj|oj|gwj` (JSON) when netlink fails; neither reads the
translation tables, so no client MAC address can reach a metric.

    meshkeeper_batman_neighbors{mesh}                                   neighbours heard
    meshkeeper_batman_neighbor_last_seen_seconds{mesh,interface,neighbor}
    meshkeeper_batman_neighbor_tq_ratio{mesh,interface,neighbor}        BATMAN_IV: TQ/255
    meshkeeper_batman_neighbor_throughput_bytes_per_second{mesh,interface,neighbor}  BATMAN_V
    meshkeeper_batman_originators{mesh}                                 distinct originators
    meshkeeper_batman_gateways{mesh}                                    gateways announced
    meshkeeper_batman_gateway_selected_info{mesh,gateway,next_hop,interface}  the one in use
    meshkeeper_batman_gateway_tq_ratio{mesh,gateway}                    BATMAN_IV: TQ/255
    meshkeeper_batman_gateway_throughput_bytes_per_second{mesh,gateway}  BATMAN_V
    meshkeeper_batman_gateway_bandwidth_bytes_per_second{mesh,gateway,direction="down|up"}
    meshkeeper_batman_source_info{mesh,source="netlink|batctl"}

`mesh` is the batman-adv interface (bat0), `interface` our hard interface.
`neighbor` is the neighbour's MAC address on that link; `gateway` and
`next_hop` are originator and neighbour MAC addresses: routers, a bounded set,
never clients. A neighbour's TQ is that of the originator entry whose
originator is the neighbour itself (orig == next hop), best route or not, as
Gluon's respondd does: reporting only best routes makes links flicker
(FIELD-NOTES). TQ is exported as 0-1; throughput and bandwidth in bytes per
second, Prometheus's base unit (promtool rejects `_bits_per_second`), like
the wireless collector's rates.
`gateway_selected_info` exists only while this node (gw_mode client) uses one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric

from agent.collectors.base import CollectorSpec, Host
from agent.config import AgentConfig
from agent.errors import CollectorError
from agent.readers.batadv import TQ_MAX, Originator, Tables, read_batctl, read_netlink

MESH = "bat0"  # the name controller/render/batman_adv.py gives the mesh interface
KBIT_S = 1000 / 8  # bytes per second in one kbit/s

Reader = Callable[[str], Tables]


def _gauge(name: str, text: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"meshkeeper_batman_{name}", text, labels=list(labels))


def link_tq(originators: Iterable[Originator]) -> dict[tuple[str, str], int]:
    """(interface, neighbour) → TQ of the entries whose originator is its own next hop."""
    return {
        (o.interface, o.address): o.tq
        for o in originators
        if o.tq is not None and o.address == o.next_hop
    }


def _neighbour_families(tables: Tables, mesh: str) -> list[Metric]:
    labels = ("mesh", "interface", "neighbor")
    seen = _gauge("neighbor_last_seen_seconds", "Time since the neighbour was heard.", labels)
    tq = _gauge("neighbor_tq_ratio", "BATMAN_IV transmit quality to the neighbour.", labels)
    rate = _gauge(
        "neighbor_throughput_bytes_per_second",
        "BATMAN_V estimated throughput to the neighbour.",
        labels,
    )
    # keyed: a dump the kernel restarted half-way may repeat an entry
    neighbours = {(n.interface, n.address): n for n in tables.neighbours}
    for (interface, address), n in neighbours.items():
        seen.add_metric([mesh, interface, address], n.last_seen_msecs / 1000)
        if n.throughput_kbit_s is not None:
            rate.add_metric([mesh, interface, address], n.throughput_kbit_s * KBIT_S)
    for (interface, address), value in link_tq(tables.originators).items():
        tq.add_metric([mesh, interface, address], value / TQ_MAX)
    count = _gauge("neighbors", "Neighbours batman-adv hears.", ["mesh"])
    count.add_metric([mesh], float(len(neighbours)))
    return [count, seen, tq, rate]


def _gateway_families(tables: Tables, mesh: str) -> list[Metric]:
    selected = _gauge(
        "gateway_selected_info",
        "The gateway this node sends its traffic to.",
        ("mesh", "gateway", "next_hop", "interface"),
    )
    tq = _gauge(
        "gateway_tq_ratio", "BATMAN_IV transmit quality to the gateway.", ("mesh", "gateway")
    )
    rate = _gauge(
        "gateway_throughput_bytes_per_second",
        "BATMAN_V path throughput to the gateway.",
        ("mesh", "gateway"),
    )
    bandwidth = _gauge(
        "gateway_bandwidth_bytes_per_second",
        "Uplink bandwidth the gateway announces.",
        ("mesh", "gateway", "direction"),
    )
    gateways = {g.address: g for g in tables.gateways}
    for address, g in gateways.items():
        if g.selected:
            selected.add_metric([mesh, address, g.next_hop, g.interface], 1.0)
        if g.tq is not None:
            tq.add_metric([mesh, address], g.tq / TQ_MAX)
        if g.throughput_kbit_s is not None:
            rate.add_metric([mesh, address], g.throughput_kbit_s * KBIT_S)
        bandwidth.add_metric([mesh, address, "down"], g.bandwidth_down_kbit_s * KBIT_S)
        bandwidth.add_metric([mesh, address, "up"], g.bandwidth_up_kbit_s * KBIT_S)
    count = _gauge("gateways", "Gateways announced in the mesh.", ["mesh"])
    count.add_metric([mesh], float(len(gateways)))
    return [count, selected, tq, rate, bandwidth]


def families(tables: Tables, mesh: str = MESH) -> list[Metric]:
    originators = _gauge("originators", "Originators (mesh nodes) known.", ["mesh"])
    originators.add_metric([mesh], float(len({o.address for o in tables.originators})))
    source = _gauge("source_info", "Where the tables were read from.", ("mesh", "source"))
    source.add_metric([mesh, tables.source], 1.0)
    return [
        *_neighbour_families(tables, mesh),
        originators,
        *_gateway_families(tables, mesh),
        source,
    ]


class BatmanCollector:
    def __init__(
        self, mesh: str = MESH, readers: Sequence[Reader] = (read_netlink, read_batctl)
    ) -> None:
        self._mesh = mesh
        self._readers = readers

    def read(self) -> Tables:
        """The first reader that works; if none does, why each one failed."""
        failures = []
        for reader in self._readers:
            try:
                return reader(self._mesh)
            except CollectorError as exc:
                failures.append(str(exc))
        raise CollectorError(f"cannot read batman-adv on {self._mesh}: " + "; ".join(failures))

    def collect(self) -> list[Metric]:
        return families(self.read(), self._mesh)

    def close(self) -> None:
        return None  # every read opens and closes its own socket or process


def build(config: AgentConfig, host: Host) -> BatmanCollector:
    return BatmanCollector()


SPEC = CollectorSpec(
    "batman_adv", 15.0, build, "batman-adv neighbours (TQ, throughput, last seen) and gateways"
)
