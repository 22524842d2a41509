"""`interfaces`: traffic, errors, drops, state and carrier changes of every link.

Read from rtnetlink (agent/readers/netlink.py). Every link but loopback is exported:
a router has a handful (ports, bridges, radios, the mesh, uplinks), a bounded
set of names the operator knows from its config.

    meshkeeper_interface_up{device}                        1 when operationally up
    meshkeeper_interface_carrier_changes_total{device}     link flaps since boot
    meshkeeper_interface_{receive,transmit}_bytes_total{device}
    meshkeeper_interface_{receive,transmit}_packets_total{device}
    meshkeeper_interface_{receive,transmit}_errors_total{device}
    meshkeeper_interface_{receive,transmit}_drops_total{device}
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from agent import contract
from agent.collectors.base import CollectorSpec, Host
from agent.config import AgentConfig
from agent.readers.netlink import Link, dump_links, parse_links

COUNTERS = (
    ("receive_bytes", "rx_bytes", "Bytes received."),
    ("transmit_bytes", "tx_bytes", "Bytes sent."),
    ("receive_packets", "rx_packets", "Packets received."),
    ("transmit_packets", "tx_packets", "Packets sent."),
    ("receive_errors", "rx_errors", "Receive errors (CRC, framing, overruns...)."),
    ("transmit_errors", "tx_errors", "Transmit errors."),
    ("receive_drops", "rx_dropped", "Received packets dropped (no buffer, filtered)."),
    ("transmit_drops", "tx_dropped", "Packets dropped before sending."),
)


def families(links: list[Link]) -> list[Metric]:
    shown = [link for link in links if link.name != "lo"]
    up = GaugeMetricFamily(
        contract.M_INTERFACE_UP, "Whether the interface is operationally up.", labels=["device"]
    )
    flaps = CounterMetricFamily(
        "meshkeeper_interface_carrier_changes",
        "Carrier up/down changes since boot: a flapping cable or radio link.",
        labels=["device"],
    )
    counters = {
        key: CounterMetricFamily(f"meshkeeper_interface_{name}", text, labels=["device"])
        for name, key, text in COUNTERS
    }
    for link in shown:
        up.add_metric([link.name], 1.0 if link.up else 0.0)
        if link.carrier_changes is not None:
            flaps.add_metric([link.name], float(link.carrier_changes))
        for key, value in link.stats.items():
            counters[key].add_metric([link.name], float(value))
    return [up, flaps, *counters.values()]


class InterfacesCollector:
    def __init__(self, read: Callable[[], bytes] = dump_links) -> None:
        self._read = read

    def collect(self) -> list[Metric]:
        return families(parse_links(self._read()))

    def close(self) -> None:
        return None


def build(config: AgentConfig, host: Host) -> InterfacesCollector:
    del config, host
    return InterfacesCollector()


SPEC = CollectorSpec(
    "interfaces", 15.0, build, "traffic, errors, drops, state and flaps of each link"
)
