"""The `wireless` collector and its nl80211 layer (agent/readers/nl80211.py), on recorded dumps.

No radio runs here, so the nl80211 messages are real recordings decoded by
pyroute2 (tests/fixtures/nl80211/PROVENANCE.md): one station dump from an
802.11n access point (interface index 19) and one interface reply (wlo1, a
managed-mode station). What no recording covers is built in the test as a
typed record (an Interface, a Survey), never as bytes, and says so.
"""

from __future__ import annotations

import errno
import gc
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from pyroute2.common import load_dump
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nl80211 import MarshalNl80211

from agent.collectors import wireless
from agent.collectors.base import Host
from agent.errors import CollectorError
from agent.readers import nl80211
from agent.readers.nl80211 import (
    IFTYPE_AP,
    IFTYPE_MESH_POINT,
    NO_NL80211,
    Interface,
    Nl80211Reader,
    Station,
    Survey,
)

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "nl80211"
CLIENT_MAC = "ee:1d:4f:83:1a:5b"  # the associated station in the recorded AP dump
MAC = re.compile(r"(?i)(?<![0-9a-f])[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}(?![0-9a-f])")


def recorded(name: str, meta: dict[str, str] | None = None) -> list[Any]:
    data = load_dump((FIXTURES / name).read_text(encoding="utf-8"), meta)
    assert isinstance(data, bytes)
    return list(MarshalNl80211().parse(data))


@pytest.fixture(scope="module")
def station_dump() -> list[Any]:
    return recorded("pyroute2_iw_station_rsp.dump")


class RecordedIW:
    """Stands in for pyroute2's IW: answers each dump with recorded messages."""

    def __init__(
        self,
        interfaces: Iterable[Any] = (),
        stations: dict[int, list[Any]] | None = None,
        refuse: dict[int, int] | None = None,
    ) -> None:
        self._interfaces = list(interfaces)
        self._stations = stations or {}
        self._refuse = refuse or {}  # ifindex -> errno the kernel answers a station dump with
        self.asked: list[tuple[str, int]] = []
        self.closed = False

    def get_interfaces_dump(self) -> Iterator[Any]:
        return iter(self._interfaces)

    def get_stations(self, ifindex: int) -> Iterator[Any]:
        self.asked.append(("stations", ifindex))
        if ifindex in self._refuse:
            raise NetlinkError(self._refuse[ifindex])
        return iter(self._stations.get(ifindex, []))

    def survey(self, ifindex: int) -> Iterator[Any]:
        self.asked.append(("survey", ifindex))
        return iter([])  # no survey dump was found to record (PROVENANCE.md)

    def close(self) -> None:
        self.closed = True


class GivenInterfaces(Nl80211Reader):
    """The real reader, with an interface list built in the test (no AP/mesh recording)."""

    def __init__(self, iw: RecordedIW, interfaces: list[Interface]) -> None:
        super().__init__(iw)
        self._given = interfaces

    def interfaces(self) -> list[Interface]:
        return self._given


class Families:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def registry_of(families: list[Metric]) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(Families(families))
    return registry


# --- the recorded fixtures and the decoders ------------------------------------------


def test_station_fixture_is_one_whole_message(station_dump: list[Any]) -> None:
    data = load_dump((FIXTURES / "pyroute2_iw_station_rsp.dump").read_text(encoding="utf-8"))
    assert len(station_dump) == 1
    assert station_dump[0]["header"]["length"] == len(data) == 2496
    assert station_dump[0]["event"] == "NL80211_CMD_NEW_STATION"


def test_decode_station_from_the_recorded_dump(station_dump: list[Any]) -> None:
    station = nl80211.decode_station(station_dump[0])
    assert station == Station(
        peer=CLIENT_MAC,
        signal_dbm=-30,  # s8 on the wire (0xe2)
        signal_average_dbm=-32,
        tx_bitrate_bps=130_000_000,  # BITRATE32 1300 x 100 kbit/s (HT MCS 15)
        rx_bitrate_bps=6_000_000,  # 60 x 100 kbit/s
        expected_throughput_bps=116_928_000,  # 116928 kbit/s
        inactive_seconds=10.31,  # 10310 ms
        tx_retries=17,
        tx_failed=18,
        beacon_loss=None,  # an AP does not count beacons lost from its clients
    )


def test_a_station_repr_never_shows_its_mac(station_dump: list[Any]) -> None:
    station = nl80211.decode_station(station_dump[0])
    assert CLIENT_MAC not in repr(station)
    assert not MAC.search(repr(station))


def test_decode_interface_from_the_recorded_reply() -> None:
    meta: dict[str, str] = {}
    (message,) = recorded("pyroute2_iw_info_rsp.dump", meta)
    interface = nl80211.decode_interface(message)
    assert interface == Interface(ifindex=3, name="wlo1", wiphy=0, iftype=2)
    assert not interface.mesh and not interface.access_point
    # the same numbers as the parse pyroute2 recorded next to the bytes
    expected = dict(json.loads(meta["application/json"])[0]["attrs"])
    assert (interface.ifindex, interface.name) == (
        expected["NL80211_ATTR_IFINDEX"],
        expected["NL80211_ATTR_IFNAME"],
    )
    assert (interface.wiphy, interface.iftype) == (
        expected["NL80211_ATTR_WIPHY"],
        expected["NL80211_ATTR_IFTYPE"],
    )


def test_messages_without_their_attributes_decode_to_nothing(station_dump: list[Any]) -> None:
    (reply,) = recorded("pyroute2_iw_info_rsp.dump")
    assert nl80211.decode_survey(reply) is None  # carries no NL80211_ATTR_SURVEY_INFO
    assert nl80211.decode_survey(station_dump[0]) is None


@pytest.mark.parametrize(
    ("raw", "dbm"),
    [(0, 0), (127, 127), (128, -128), (164, -92), (186, -70), (255, -1), (-92, -92)],
)
def test_noise_decoded_unsigned_is_read_as_int8(raw: int, dbm: int) -> None:
    assert nl80211.int8(raw) == dbm


@pytest.mark.parametrize(
    ("mhz", "name"),
    [
        (2412, "2g"),
        (2484, "2g"),
        (4920, "5g"),
        (5180, "5g"),
        (5885, "5g"),
        (5935, "6g"),
        (5955, "6g"),
        (7115, "6g"),
        (None, "unknown"),
        (60480, "unknown"),
    ],
)
def test_band_of_a_frequency(mhz: int | None, name: str) -> None:
    assert wireless.band(mhz) == name


# --- the reader and the collector on recorded dumps -----------------------------------


def test_a_managed_station_interface_is_surveyed_but_never_station_dumped() -> None:
    iw = RecordedIW(interfaces=recorded("pyroute2_iw_info_rsp.dump"))
    snapshot = wireless.read_snapshot(Nl80211Reader(iw))
    assert snapshot == wireless.Snapshot()
    assert iw.asked == [("survey", 3)]  # its radio's survey, and no station dump of its AP


def test_mesh_point_stations_are_peers(station_dump: list[Any]) -> None:
    # The recorded station placed under a mesh interface built here: its numbers are real.
    mesh = Interface(ifindex=19, name="mesh0", wiphy=0, iftype=IFTYPE_MESH_POINT)
    reader = GivenInterfaces(RecordedIW(stations={19: station_dump}), [mesh])
    registry = registry_of(wireless.WirelessCollector(lambda: reader).collect())
    peer = {"device": "mesh0", "peer": CLIENT_MAC}
    expected = {
        "meshkeeper_wireless_peer_signal_dbm": -30.0,
        "meshkeeper_wireless_peer_signal_average_dbm": -32.0,
        "meshkeeper_wireless_peer_tx_rate_bytes_per_second": 130e6 / 8,
        "meshkeeper_wireless_peer_rx_rate_bytes_per_second": 6e6 / 8,
        "meshkeeper_wireless_peer_expected_throughput_bytes_per_second": 116.928e6 / 8,
        "meshkeeper_wireless_peer_inactive_seconds": 10.31,
        "meshkeeper_wireless_peer_tx_retries_total": 17.0,
        "meshkeeper_wireless_peer_tx_failed_total": 18.0,
    }
    for name, value in expected.items():
        assert registry.get_sample_value(name, peer) == pytest.approx(value), name
    assert registry.get_sample_value("meshkeeper_wireless_peer_beacon_loss_total", peer) is None
    assert registry.get_sample_value("meshkeeper_wireless_clients", {"band": "unknown"}) is None


def access_point_scenario(station_dump: list[Any]) -> tuple[RecordedIW, wireless.Reader]:
    """The recorded AP dump (ifindex 19) under an AP interface built here, on channel 36."""
    ap = Interface(ifindex=19, name="ap0", wiphy=0, iftype=IFTYPE_AP, frequency_mhz=5180)
    iw = RecordedIW(stations={19: station_dump})
    return iw, GivenInterfaces(iw, [ap])


def test_access_point_clients_are_counted_and_never_decoded(
    station_dump: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding(_msg: Any) -> Station:
        raise AssertionError("a client's station record was decoded")

    monkeypatch.setattr(nl80211, "decode_station", no_decoding)
    _, reader = access_point_scenario(station_dump)
    snapshot = wireless.read_snapshot(reader)
    assert snapshot.clients == {"5g": 1}
    assert snapshot.peers == []


def test_no_client_mac_in_the_exposition(station_dump: list[Any]) -> None:
    _, reader = access_point_scenario(station_dump)
    registry = registry_of(wireless.WirelessCollector(lambda: reader).collect())
    text = generate_latest(registry).decode()
    assert 'meshkeeper_wireless_clients{band="5g"} 1.0' in text
    assert CLIENT_MAC not in text.lower()
    assert MAC.findall(text) == []


def test_the_exposition_passes_promtool(station_dump: list[Any]) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    mesh = Interface(ifindex=19, name="mesh0", wiphy=0, iftype=IFTYPE_MESH_POINT)
    peers = GivenInterfaces(RecordedIW(stations={19: station_dump}), [mesh]).stations(mesh)
    _, reader = access_point_scenario(station_dump)
    clients = wireless.read_snapshot(reader).clients
    # No survey dump was found to record: this one is built here, for names and format only.
    survey = Survey(frequency_mhz=5180, in_use=True, noise_dbm=-92, active_seconds=1.0)
    snapshot = wireless.Snapshot([("mesh0", p) for p in peers], clients, [("mesh0", survey)])
    text = generate_latest(registry_of(wireless.families(snapshot)))
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert b"meshkeeper_wireless_survey_noise_dbm" in text


def test_a_refused_dump_fails_the_run_without_naming_a_client(station_dump: list[Any]) -> None:
    opened: list[RecordedIW] = []

    def open_reader() -> wireless.Reader:
        iw, reader = access_point_scenario(station_dump)
        iw._refuse[19] = errno.EPERM
        opened.append(iw)
        return reader

    collector = wireless.WirelessCollector(open_reader)
    with pytest.raises(CollectorError, match="the clients of ap0") as caught:
        collector.collect()
    assert not MAC.search(str(caught.value))
    assert opened[0].closed  # and the next run opens a fresh socket
    with pytest.raises(CollectorError):
        collector.collect()
    assert len(opened) == 2


def test_an_interface_that_vanished_mid_read_counts_nothing(station_dump: list[Any]) -> None:
    iw, reader = access_point_scenario(station_dump)
    iw._refuse[19] = errno.ENODEV
    assert wireless.read_snapshot(reader).clients == {"5g": 0}


# --- choosing the in-use channel and the interface to survey through ------------------


def test_only_the_in_use_channel_is_kept() -> None:
    # Built here: no survey dump was found to record.
    scanned = Survey(frequency_mhz=2412, in_use=False, noise_dbm=-95)
    current = Survey(frequency_mhz=5180, in_use=True, noise_dbm=-92)
    assert wireless.in_use([scanned, current]) == current
    assert wireless.in_use([scanned]) is None


def test_each_radio_is_surveyed_once_through_its_mesh_interface() -> None:
    def made(ifindex: int, name: str, wiphy: int, iftype: int) -> Interface:
        return Interface(ifindex=ifindex, name=name, wiphy=wiphy, iftype=iftype)

    chosen = wireless.survey_interfaces(
        [
            made(5, "phy0-ap0", 0, IFTYPE_AP),
            made(6, "phy0-mesh0", 0, IFTYPE_MESH_POINT),
            made(7, "phy1-ap0", 1, IFTYPE_AP),
            made(8, "phy1-sta0", 1, 2),
            made(9, "wlo1", 2, 2),
        ]
    )
    assert [i.name for i in chosen] == ["phy0-mesh0", "phy1-ap0", "wlo1"]


# --- no nl80211 ----------------------------------------------------------------------


def test_without_cfg80211_the_collector_says_so_and_loads_nothing(tmp_path: Path) -> None:
    collector = wireless.build(None, Host(root=tmp_path))  # type: ignore[arg-type]
    for _ in range(2):  # every run tries again: a driver may be loaded later
        with pytest.raises(CollectorError, match=r"^no nl80211 \(no radio driver loaded\)"):
            collector.collect()


def test_a_missing_nl80211_family_is_a_collector_error(tmp_path: Path) -> None:
    (tmp_path / "sys" / "class" / "ieee80211").mkdir(parents=True)

    def family_missing() -> nl80211.IWLike:
        raise NetlinkError(errno.ENOENT)  # what pyroute2 raises when the family is unknown

    collector = wireless.WirelessCollector(lambda: nl80211.open_nl80211(tmp_path, family_missing))
    with pytest.raises(CollectorError) as caught:
        collector.collect()
    assert str(caught.value) == NO_NL80211
    assert isinstance(caught.value.__cause__, NetlinkError)


def test_another_open_failure_names_its_reason(tmp_path: Path) -> None:
    (tmp_path / "sys" / "class" / "ieee80211").mkdir(parents=True)

    def refused() -> nl80211.IWLike:
        raise NetlinkError(errno.EPERM)

    with pytest.raises(CollectorError, match=r"cannot open nl80211: .* \(code 1\)"):
        nl80211.open_nl80211(tmp_path, refused)


def test_this_kernel_without_nl80211_answers_as_expected(tmp_path: Path) -> None:
    """The real pyroute2 IW against this machine's kernel (netlink only, no packets)."""
    if Path("/sys/class/ieee80211").exists():
        pytest.skip("this machine has radios")
    (tmp_path / "sys" / "class" / "ieee80211").mkdir(parents=True)  # past the sysfs check
    try:
        reader = nl80211.open_nl80211(tmp_path)
    except CollectorError as exc:
        assert str(exc) == NO_NL80211
    else:
        reader.close()
        pytest.skip("this kernel has nl80211")
    gc.collect()  # a socket or event loop left open would warn here, and fail the test


def test_importing_and_failing_never_loads_pyroute2(tmp_path: Path) -> None:
    script = f"""
import sys
from pathlib import Path
import agent.readers.nl80211
assert not [m for m in sys.modules if m.startswith("pyroute2")], "agent.readers.nl80211 loads it"
from agent.collectors import wireless
from agent.collectors.base import Host
from agent.errors import CollectorError
before = {{m for m in sys.modules if m.startswith("pyroute2")}}
try:
    wireless.build(None, Host(root=Path({str(tmp_path)!r}))).collect()
except CollectorError:
    pass
assert {{m for m in sys.modules if m.startswith("pyroute2")}} == before, "collect loads it"
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_spec() -> None:
    assert (wireless.SPEC.name, wireless.SPEC.interval_seconds) == ("wireless", 15.0)
