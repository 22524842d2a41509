"""nl80211 through pyroute2's IW: pure decoders to dataclasses, and a thin reader.

The decoders take messages as pyroute2 decodes them (anything with
`get_attr`), so tests feed them recorded dumps (tests/fixtures/nl80211/).
pyroute2 itself is imported only inside `open_nl80211` and the reader's
methods, never when this module is imported: the agent must not carry it
(~28 MB of RSS) on a node that does not read radios.

Units as nl80211 sends them (include/uapi/linux/nl80211.h, and
../shared/FIELD-NOTES.md): signal in dBm (s8), bitrates in 100 kbit/s,
expected throughput in kbit/s, inactive time and survey times in ms. The
dataclasses hold base units (bits/s, seconds).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from agent.errors import CollectorError

# enum nl80211_iftype
IFTYPE_AP = 3
IFTYPE_AP_VLAN = 4
IFTYPE_MESH_POINT = 7
SYSFS_WIPHYS = "/sys/class/ieee80211"  # exists once cfg80211 (and with it nl80211) is loaded
NO_NL80211 = (
    "no nl80211 (no radio driver loaded): this node has no wireless radio — "
    "remove `wireless` from the collectors in agent.json, or load the radio's driver"
)


class Attrs(Protocol):
    """A decoded pyroute2 netlink message or nested attribute set."""

    def get_attr(self, attr: str, default: Any = None) -> Any: ...


@dataclass(frozen=True)
class Interface:
    ifindex: int
    name: str
    wiphy: int
    iftype: int
    frequency_mhz: int | None = None

    @property
    def mesh(self) -> bool:
        return self.iftype == IFTYPE_MESH_POINT

    @property
    def access_point(self) -> bool:
        # Stations on an AP_VLAN (WDS, dynamic VLAN) are dumped there, not on the AP.
        return self.iftype in (IFTYPE_AP, IFTYPE_AP_VLAN)


@dataclass(frozen=True)
class Station:
    """A mesh peer's link, in base units. repr leaves the MAC out, to be safe in logs."""

    peer: str = field(repr=False)
    signal_dbm: int | None = None
    signal_average_dbm: int | None = None
    tx_bitrate_bps: int | None = None
    rx_bitrate_bps: int | None = None
    expected_throughput_bps: int | None = None
    inactive_seconds: float | None = None
    tx_retries: int | None = None
    tx_failed: int | None = None
    beacon_loss: int | None = None


@dataclass(frozen=True)
class Survey:
    frequency_mhz: int
    in_use: bool
    noise_dbm: int | None = None
    active_seconds: float | None = None
    busy_seconds: float | None = None


# --- pure decoding -------------------------------------------------------------------


def int8(raw: int) -> int:
    """nl80211 sends noise as a u8 holding an s8 (iw casts it); pyroute2 decodes it unsigned."""
    return raw - 256 if raw > 127 else raw


def decode_interface(msg: Attrs) -> Interface | None:
    """NL80211_CMD_NEW_INTERFACE → Interface; None for a wdev without a netdev (P2P device)."""
    ifindex = msg.get_attr("NL80211_ATTR_IFINDEX")
    name = msg.get_attr("NL80211_ATTR_IFNAME")
    if ifindex is None or name is None:
        return None
    return Interface(
        ifindex=int(ifindex),
        name=str(name),
        wiphy=int(msg.get_attr("NL80211_ATTR_WIPHY", -1)),
        iftype=int(msg.get_attr("NL80211_ATTR_IFTYPE", 0)),
        frequency_mhz=_optional_int(msg.get_attr("NL80211_ATTR_WIPHY_FREQ")),
    )


def bitrate_bps(rate: Attrs | None) -> int | None:
    """rate_info → bits/s; BITRATE32 wins: the 16-bit BITRATE is left out above 6.5 Gbit/s."""
    if rate is None:
        return None
    units = rate.get_attr("NL80211_RATE_INFO_BITRATE32")
    if units is None:
        units = rate.get_attr("NL80211_RATE_INFO_BITRATE")
    return None if units is None else int(units) * 100_000


def decode_station(msg: Attrs) -> Station:
    """NL80211_CMD_NEW_STATION of a mesh peer → Station (never call it for an AP's client)."""
    info = msg.get_attr("NL80211_ATTR_STA_INFO")
    peer = str(msg.get_attr("NL80211_ATTR_MAC"))
    if info is None:  # a dump always carries it; a bare record is a peer with no numbers
        return Station(peer=peer)
    throughput_kbps = _optional_int(info.get_attr("NL80211_STA_INFO_EXPECTED_THROUGHPUT"))
    inactive_ms = _optional_int(info.get_attr("NL80211_STA_INFO_INACTIVE_TIME"))
    return Station(
        peer=peer,
        signal_dbm=_optional_int(info.get_attr("NL80211_STA_INFO_SIGNAL")),
        signal_average_dbm=_optional_int(info.get_attr("NL80211_STA_INFO_SIGNAL_AVG")),
        tx_bitrate_bps=bitrate_bps(info.get_attr("NL80211_STA_INFO_TX_BITRATE")),
        rx_bitrate_bps=bitrate_bps(info.get_attr("NL80211_STA_INFO_RX_BITRATE")),
        expected_throughput_bps=None if throughput_kbps is None else throughput_kbps * 1000,
        inactive_seconds=None if inactive_ms is None else inactive_ms / 1000,
        tx_retries=_optional_int(info.get_attr("NL80211_STA_INFO_TX_RETRIES")),
        tx_failed=_optional_int(info.get_attr("NL80211_STA_INFO_TX_FAILED")),
        beacon_loss=_optional_int(info.get_attr("NL80211_STA_INFO_BEACON_LOSS")),
    )


def decode_survey(msg: Attrs) -> Survey | None:
    """NL80211_CMD_NEW_SURVEY_RESULTS → Survey; None when it names no channel."""
    info = msg.get_attr("NL80211_ATTR_SURVEY_INFO")
    frequency = None if info is None else info.get_attr("NL80211_SURVEY_INFO_FREQUENCY")
    if info is None or frequency is None:
        return None
    noise = _optional_int(info.get_attr("NL80211_SURVEY_INFO_NOISE"))
    active_ms = _optional_int(info.get_attr("NL80211_SURVEY_INFO_TIME"))
    busy_ms = _optional_int(info.get_attr("NL80211_SURVEY_INFO_TIME_BUSY"))
    return Survey(
        frequency_mhz=int(frequency),
        in_use=bool(info.get_attr("NL80211_SURVEY_INFO_IN_USE")),
        noise_dbm=None if noise is None else int8(noise),
        active_seconds=None if active_ms is None else active_ms / 1000,
        busy_seconds=None if busy_ms is None else busy_ms / 1000,
    )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


# --- reading -------------------------------------------------------------------------


class IWLike(Protocol):
    """The part of pyroute2's IW the reader uses (tests pass recorded messages)."""

    def get_interfaces_dump(self) -> Iterable[Attrs]: ...

    def get_stations(self, ifindex: int) -> Iterable[Attrs]: ...

    def survey(self, ifindex: int) -> Iterable[Attrs]: ...

    def close(self) -> None: ...


class Nl80211Reader:
    """Thin layer over an open IW: every dump is read whole; errors become CollectorError."""

    def __init__(self, iw: IWLike) -> None:
        self._iw = iw

    def interfaces(self) -> list[Interface]:
        messages = self._dump("the interface list", self._iw.get_interfaces_dump)
        return [i for i in map(decode_interface, messages) if i is not None]

    def stations(self, interface: Interface) -> list[Station]:
        what = f"the mesh peers of {interface.name}"
        messages = self._dump(what, partial(self._iw.get_stations, interface.ifindex))
        return [decode_station(message) for message in messages]

    def client_count(self, interface: Interface) -> int:
        # Counted without decoding a single attribute: no client MAC is ever read.
        what = f"the clients of {interface.name}"
        return len(self._dump(what, partial(self._iw.get_stations, interface.ifindex)))

    def surveys(self, interface: Interface) -> list[Survey]:
        what = f"the channel survey of {interface.name}"
        messages = self._dump(what, partial(self._iw.survey, interface.ifindex))
        return [s for s in map(decode_survey, messages) if s is not None]

    def close(self) -> None:
        self._iw.close()

    def _dump(self, what: str, request: Callable[[], Iterable[Attrs]]) -> list[Attrs]:
        from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

        try:
            return list(request())
        except NetlinkError as exc:
            # The interface went away mid-read, or the driver keeps no survey: nothing to show.
            if exc.code in (errno.ENODEV, errno.EOPNOTSUPP):
                return []
            raise CollectorError(f"nl80211 refused {what}: {_reason(exc)}") from exc


def open_nl80211(root: Path, make_iw: Callable[[], IWLike] | None = None) -> Nl80211Reader:
    """Open nl80211 on the node whose filesystem is at `root` ("/" on a router)."""
    if not (root / SYSFS_WIPHYS.lstrip("/")).is_dir():
        # No cfg80211, so no nl80211: say so without loading pyroute2 at all.
        raise CollectorError(f"{NO_NL80211} ({SYSFS_WIPHYS} is absent)")
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        iw = (make_iw or _closing_iw())()
    except NetlinkError as exc:
        if exc.code == errno.ENOENT:  # the generic netlink family is not registered
            raise CollectorError(NO_NL80211) from exc
        raise CollectorError(f"cannot open nl80211: {_reason(exc)}") from exc
    return Nl80211Reader(iw)


def _reason(exc: Any) -> str:
    return f"{exc.args[-1]} (code {exc.code})"


def _closing_iw() -> Callable[[], IWLike]:
    """pyroute2's IW, but one that frees its sockets and event loop when it fails to open.

    pyroute2 0.9.7 leaves them open (ResourceWarning) when the family lookup fails, and
    logs that at ERROR itself; our CollectorError already says it, once per run.
    """
    from pyroute2.iwutil import IW, AsyncIW  # type: ignore[import-untyped]
    from pyroute2.netlink.exceptions import NetlinkError

    class QuietAsyncIW(AsyncIW):  # type: ignore[misc]
        module_err_level = "debug"

    class ClosingIW(IW):  # type: ignore[misc]
        async_class = QuietAsyncIW

        def __init__(self) -> None:
            try:
                super().__init__()
            except NetlinkError:
                self.close()
                raise

    return ClosingIW
