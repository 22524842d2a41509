"""`wireless`: mesh peers' links, radio noise and airtime, access-point client counts.

Read from nl80211 through pyroute2's IW (agent/readers/nl80211.py; FIELD-NOTES.md,
"Mesh link metrics"). pyroute2 is imported on the first run, and only on a
node with cfg80211 loaded (/sys/class/ieee80211): a disabled collector, or
one on a wired-only router, never loads it. Without nl80211 every run fails
with "no nl80211 (no radio driver loaded) ..." (collector_success 0).

    meshkeeper_wireless_peer_signal_dbm{device,peer}                last frame from the peer
    meshkeeper_wireless_peer_signal_average_dbm{device,peer}        the driver's average
    meshkeeper_wireless_peer_tx_rate_bytes_per_second{device,peer}  PHY rate, last frame sent
    meshkeeper_wireless_peer_rx_rate_bytes_per_second{device,peer}  PHY rate, last frame heard
    meshkeeper_wireless_peer_expected_throughput_bytes_per_second{device,peer}
    meshkeeper_wireless_peer_inactive_seconds{device,peer}          since the last frame
    meshkeeper_wireless_peer_tx_retries_total{device,peer}
    meshkeeper_wireless_peer_tx_failed_total{device,peer}
    meshkeeper_wireless_peer_beacon_loss_total{device,peer}
    meshkeeper_wireless_survey_noise_dbm{device}                    in-use channel only
    meshkeeper_wireless_survey_active_seconds_total{device}         radio on, on that channel
    meshkeeper_wireless_survey_busy_seconds_total{device}           that channel sensed busy
    meshkeeper_wireless_clients{band}                               2g, 5g, 6g or unknown

Privacy (ARCHITECTURE.md, "Privacy by default"): only the stations of a
mesh-point (802.11s) interface are peers — other routers, a bounded set —
labelled `peer` by MAC address (the agent knows no MAC → node name map).
The stations of an access point (AP or AP_VLAN interface) are clients: they
are counted from the dump without decoding it, so no client MAC can reach a
label, a log line or an error message. Stations of other interface types (a
station uplink's AP, IBSS, monitor) are not exported.

Rates are in bytes per second, Prometheus's base unit (promtool rejects
`_bits_per_second`): nl80211's 100 kbit/s and kbit/s figures, divided by 8.
A field the driver does not fill is left out, never sent as 0. `device` is
the interface name. The survey is per radio: read once per wiphy, through
its mesh interface if it has one (then an AP, then any), and `device` names
that interface so it joins the peer series. `clients` has a series for each
band where the node runs an access point, 0 included; `unknown` is an AP
whose channel nl80211 did not report. Counters are the kernel's own (u32 for
the peer counters): a wrap reads as a counter reset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from agent.collectors.base import CollectorSpec, Host
from agent.config import AgentConfig
from agent.errors import CollectorError
from agent.readers.nl80211 import Interface, Station, Survey, open_nl80211


class Reader(Protocol):
    """What the collector reads; agent.readers.nl80211.Nl80211Reader is the real one."""

    def interfaces(self) -> list[Interface]: ...

    def stations(self, interface: Interface) -> list[Station]: ...

    def client_count(self, interface: Interface) -> int: ...

    def surveys(self, interface: Interface) -> list[Survey]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Snapshot:
    peers: list[tuple[str, Station]] = field(default_factory=list)  # (device, station)
    clients: dict[str, int] = field(default_factory=dict)  # band -> stations
    surveys: list[tuple[str, Survey]] = field(default_factory=list)  # (device, in-use channel)


def band(frequency_mhz: int | None) -> str:
    """The band of a channel's centre frequency (6 GHz channel 2 is at 5935 MHz)."""
    if frequency_mhz is None:
        return "unknown"
    if 2400 <= frequency_mhz < 2500:
        return "2g"
    if frequency_mhz == 5935 or 5950 <= frequency_mhz <= 7125:
        return "6g"
    if 4900 <= frequency_mhz <= 5925:
        return "5g"
    return "unknown"


def in_use(surveys: Iterable[Survey]) -> Survey | None:
    return next((survey for survey in surveys if survey.in_use), None)


def survey_interfaces(interfaces: Iterable[Interface]) -> list[Interface]:
    """One interface per radio to read its survey through: mesh first, then AP, then any."""
    chosen: dict[int, Interface] = {}
    for interface in sorted(interfaces, key=_survey_preference):
        chosen.setdefault(interface.wiphy, interface)
    return sorted(chosen.values(), key=lambda interface: interface.name)


def _survey_preference(interface: Interface) -> tuple[int, str]:
    return (0 if interface.mesh else 1 if interface.access_point else 2), interface.name


def read_snapshot(reader: Reader) -> Snapshot:
    interfaces = reader.interfaces()
    peers = [(i.name, s) for i in interfaces if i.mesh for s in reader.stations(i)]
    clients: dict[str, int] = {}
    for interface in (i for i in interfaces if i.access_point):
        key = band(interface.frequency_mhz)
        clients[key] = clients.get(key, 0) + reader.client_count(interface)
    surveys = []
    for interface in survey_interfaces(interfaces):
        survey = in_use(reader.surveys(interface))
        if survey is not None:
            surveys.append((interface.name, survey))
    return Snapshot(peers, clients, surveys)


# --- pure conversion: Snapshot -> metric families -------------------------------------

# (metric, Station field, scale to the metric's unit, help). Rates are bytes per second:
# Prometheus's base unit, which `promtool check metrics` insists on over bits.
BYTES_PER_BIT = 1 / 8
PEER_GAUGES = (
    ("signal_dbm", "signal_dbm", 1, "Signal of the last frame from the mesh peer, in dBm."),
    ("signal_average_dbm", "signal_average_dbm", 1, "The driver's average signal from the peer."),
    (
        "tx_rate_bytes_per_second",
        "tx_bitrate_bps",
        BYTES_PER_BIT,
        "PHY rate of the last frame sent.",
    ),
    (
        "rx_rate_bytes_per_second",
        "rx_bitrate_bps",
        BYTES_PER_BIT,
        "PHY rate of the last frame heard.",
    ),
    (
        "expected_throughput_bytes_per_second",
        "expected_throughput_bps",
        BYTES_PER_BIT,
        "Throughput the rate control expects to reach the peer at.",
    ),
    ("inactive_seconds", "inactive_seconds", 1, "Time since the last frame from the peer."),
)
PEER_COUNTERS = (
    ("tx_retries", "tx_retries", 1, "Retransmissions (MPDUs) to the peer."),
    ("tx_failed", "tx_failed", 1, "Frames (MPDUs) to the peer that failed after every retry."),
    ("beacon_loss", "beacon_loss", 1, "Times the peer's beacons were lost."),
)


def families(snapshot: Snapshot) -> list[Metric]:
    return [
        *_peer_families(snapshot.peers),
        *_survey_families(snapshot.surveys),
        _client_family(snapshot.clients),
    ]


def _peer_families(peers: list[tuple[str, Station]]) -> list[Metric]:
    labels = ["device", "peer"]
    columns: list[tuple[GaugeMetricFamily | CounterMetricFamily, str, float]] = [
        (GaugeMetricFamily(f"meshkeeper_wireless_peer_{name}", text, labels=labels), attr, scale)
        for name, attr, scale, text in PEER_GAUGES
    ]
    columns += [
        (CounterMetricFamily(f"meshkeeper_wireless_peer_{name}", text, labels=labels), attr, scale)
        for name, attr, scale, text in PEER_COUNTERS
    ]
    for device, station in peers:
        for family, attr, scale in columns:
            value = getattr(station, attr)
            if value is not None:
                family.add_metric([device, station.peer], value * scale)
    return [family for family, _, _ in columns]


def _survey_families(surveys: list[tuple[str, Survey]]) -> list[Metric]:
    noise = GaugeMetricFamily(
        "meshkeeper_wireless_survey_noise_dbm",
        "Noise floor of the radio's in-use channel, in dBm.",
        labels=["device"],
    )
    active = CounterMetricFamily(
        "meshkeeper_wireless_survey_active_seconds",
        "Time the radio was on, on its in-use channel.",
        labels=["device"],
    )
    busy = CounterMetricFamily(
        "meshkeeper_wireless_survey_busy_seconds",
        "Time the in-use channel was sensed busy (busy / active is the channel load).",
        labels=["device"],
    )
    for device, survey in surveys:
        for family, value in (
            (noise, survey.noise_dbm),
            (active, survey.active_seconds),
            (busy, survey.busy_seconds),
        ):
            if value is not None:
                family.add_metric([device], float(value))
    return [noise, active, busy]


def _client_family(clients: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(
        "meshkeeper_wireless_clients",
        "Stations associated to this node's access points, per band (a count, never who).",
        labels=["band"],
    )
    for name in sorted(clients):
        family.add_metric([name], float(clients[name]))
    return family


# --- the collector --------------------------------------------------------------------


class WirelessCollector:
    """Opens nl80211 on its first run, in the scheduler's thread (pyroute2 wants one)."""

    def __init__(self, open_reader: Callable[[], Reader]) -> None:
        self._open = open_reader
        self._reader: Reader | None = None

    def collect(self) -> list[Metric]:
        if self._reader is None:
            self._reader = self._open()
        try:
            snapshot = read_snapshot(self._reader)
        except CollectorError:
            self.close()  # reopen next run: the socket may be what broke
            raise
        return families(snapshot)

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()


def build(config: AgentConfig, host: Host) -> WirelessCollector:
    del config
    return WirelessCollector(partial(open_nl80211, host.root))


SPEC = CollectorSpec(
    "wireless",
    15.0,
    build,
    "mesh peers' signal, bitrates and retries; radio noise and airtime; AP client counts",
)
