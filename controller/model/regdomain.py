"""Which Wi-Fi channels a country allows, from the Linux wireless regulatory database.

The inventory validator uses this to reject a channel that does not exist on its
band, or that the radio's country does not allow at the configured width.

The table between the GENERATED markers at the end of this file is written by
scripts/gen-regdomain.py from wireless-regdb's db.txt (repository, commit and
date in its header). Do not edit it by hand: run the script.

The rules are applied as the Linux kernel applies them (net/wireless/reg.c), so
that what passes here is what the router accepts:

* A 20 MHz channel is usable if it lies wholly inside a rule (the first one, in
  rule order), or else straddles two rules that touch (one ends where the other
  begins; the stricter of the two then applies).
* Its widest usable bandwidth is the rule's ``@`` value or, for an AUTO-BW rule,
  the width of the run of touching rules around it.
* A bonded channel (HT40, VHT80, ...) is usable if every 20 MHz channel of its
  block is usable at that width. Blocks are the ones OpenWrt configures: 5 GHz
  36+40, 36-48, 36-64, ...; 6 GHz 1+5, 1-13, 1-29, ..., and for EHT320 1-61,
  65-125, 129-189 (channels 193-221 use 161-221); 2.4 GHz the secondary channel
  4 above for channels 1-6 and 4 below from 7 on, unless HT40+ or HT40- says
  which. On 2.4 GHz, OpenWrt runs any mode wider than 40 MHz (VHT80, HE80, ...)
  at 40 MHz, and so does this check.
* NO-IR ("no initiating radiation") rejects the channel: hostapd does not start
  an access point or a mesh node there.
* NO-OFDM (JP channel 14) means 802.11b only: any htmode but NOHT is rejected.
* DFS, NO-OUTDOOR and NO-INDOOR do not make a channel invalid (hostapd does the
  radar check; where a router stands is not known here). Power is not checked.

Keep this module cheap to import (the CLI imports it on every run), with or
without a cached .pyc: no imports at run time, no work at import time. So the
table is a single string, split into countries on first use, and a country's
rules are turned into tuples the first time that country is asked about.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Final, TypeAlias

__all__ = ["BANDS", "channel_frequency", "channel_problem", "known_country"]

BANDS: Final = ("2g", "5g", "6g")

_Rule: TypeAlias = tuple[int, int, int, int]  # start kHz, end kHz, max bandwidth MHz, flags

# Flags of the generated table; scripts/gen-regdomain.py writes only these (KNOWN_FLAGS).
_NO_OFDM: Final = 1
_NO_OUTDOOR: Final = 2
_NO_INDOOR: Final = 4
_DFS: Final = 8
_NO_IR: Final = 16
_AUTO_BW: Final = 32
_NO_HT40: Final = 64
FLAG_BITS: Final[dict[str, int]] = {
    "NO-OFDM": _NO_OFDM,
    "NO-OUTDOOR": _NO_OUTDOOR,
    "NO-INDOOR": _NO_INDOOR,
    "DFS": _DFS,
    "NO-IR": _NO_IR,
    "AUTO-BW": _AUTO_BW,
    "NO-HT40": _NO_HT40,
}

_HTMODE_WIDTH: Final = {
    "NOHT": 20,
    "HT20": 20,
    "HT40": 40,
    "HT40+": 40,
    "HT40-": 40,
    "VHT20": 20,
    "VHT40": 40,
    "VHT80": 80,
    "VHT160": 160,
    "HE20": 20,
    "HE40": 40,
    "HE80": 80,
    "HE160": 160,
    "EHT20": 20,
    "EHT40": 40,
    "EHT80": 80,
    "EHT160": 160,
    "EHT320": 320,
}

_VALID_CHANNELS: Final = {
    "2g": "1-14",
    "5g": "32-144 and 149-177, in steps of 4",
    "6g": "1-233 with channel % 4 == 1",
}

# OpenWrt's EHT320 blocks on 6 GHz: (first channel, last channel) -> block start channel.
_EHT320_BLOCKS: Final = ((1, 61, 1), (65, 125, 65), (129, 189, 129), (193, 221, 161))


_COUNTRIES: dict[str, str] = {}  # code -> rules text, from _TABLE on first use
_PARSED: dict[str, tuple[_Rule, ...]] = {}  # code -> rules, on first use


def known_country(code: str) -> bool:
    """True if wireless-regdb has rules for this country code ("00" is the world domain)."""
    return code in _countries()


def channel_frequency(band: str, channel: int) -> int | None:
    """Centre frequency (MHz) of a 20 MHz channel, or None if the band has no such channel."""
    if band == "2g":
        if 1 <= channel <= 13:
            return 2407 + 5 * channel
        return 2484 if channel == 14 else None
    if band == "5g":
        if (32 <= channel <= 144 and channel % 4 == 0) or (
            149 <= channel <= 177 and channel % 4 == 1
        ):
            return 5000 + 5 * channel
        return None
    if band == "6g" and 1 <= channel <= 233 and channel % 4 == 1:
        return 5950 + 5 * channel
    return None


def channel_problem(country: str, band: str, channel: int, htmode: str | None) -> str | None:
    """None if the country allows the channel at htmode's width, else what is wrong.

    htmode None means 20 MHz. Channel 0 (auto) is not a channel: do not pass it.
    """
    if band not in BANDS:
        return f"unknown band {band!r} (expected one of {', '.join(BANDS)})"
    centre = channel_frequency(band, channel)
    if centre is None:
        return f"channel {channel} does not exist on {band} (valid: {_VALID_CHANNELS[band]})"
    rules = _rules(country)
    if rules is None:
        upper = country.upper()
        hint = f"; country codes are upper case: {upper!r}" if upper in _countries() else ""
        return f"unknown country code {country!r}: not in the wireless regulatory database{hint}"
    if htmode is None:
        width = 20
    elif htmode in _HTMODE_WIDTH:
        width = _HTMODE_WIDTH[htmode]
    else:
        return f"unknown htmode {htmode!r} (expected one of {', '.join(_HTMODE_WIDTH)})"
    if band == "2g":
        width = min(width, 40)

    usable = _usable(rules, centre)
    if usable is None:
        allowed = _allowed(rules, band)
        return f"channel {channel} is not allowed in {country} on {band} (allowed: {allowed})"
    _, flags = usable
    if flags & _NO_IR:
        return (
            f"channel {channel} is NO-IR in {country} on {band}: an access point or mesh node "
            f"may not start there (allowed: {_allowed(rules, band)})"
        )
    if flags & _NO_OFDM and htmode not in (None, "NOHT"):
        return (
            f"channel {channel} is 802.11b only in {country} (NO-OFDM), which {htmode} "
            "cannot do: use htmode NOHT or another channel"
        )
    if width == 20:
        return None

    block = _block(band, channel, width, htmode or "")
    if isinstance(block, str):
        return block
    low, high = block
    for sub_centre in range(low + 10, high, 20):
        reason = _sub_channel_problem(rules, band, sub_centre, width)
        if reason is not None:
            first, last = _channel_number(band, low + 10), _channel_number(band, high - 10)
            channels = f"{first}+{last}" if width == 40 else f"{first}-{last}"
            return (
                f"channel {channel} with {htmode} needs {width} MHz at {low}-{high} MHz "
                f"(channels {channels}), which {country} does not allow: {reason}"
            )
    return None


def _channel_number(band: str, centre: int) -> int:
    if band == "2g":
        return 14 if centre == 2484 else (centre - 2407) // 5
    if band == "5g":
        return (centre - 5000) // 5
    return (centre - 5950) // 5


def _block(band: str, channel: int, width: int, htmode: str) -> tuple[int, int] | str:
    """(low, high) MHz of the bonded block OpenWrt uses, or why there is none."""
    if band == "2g":
        if channel == 14:
            return "channel 14 cannot be bonded to 40 MHz: it has no secondary channel"
        above = htmode == "HT40+" or (htmode != "HT40-" and channel < 7)
        secondary = channel + 4 if above else channel - 4
        if not 1 <= secondary <= 13:
            return (
                f"channel {channel} with {htmode} needs secondary channel {secondary}, "
                "which does not exist on 2g"
            )
        low = 2407 + 5 * min(channel, secondary) - 10
        return low, low + 40
    step = width // 5  # channel numbers per block
    if band == "5g":
        if width > 160:
            return f"5g has no {width} MHz channels ({htmode} needs 6g)"
        first, last = (36, 144) if channel <= 144 else (149, 177)
        base = first + (channel - first) // step * step
        if channel < first or base + step - 4 > last:
            return f"channel {channel} is not part of any {width} MHz channel on 5g"
        low = 5000 + 5 * base - 10
        return low, low + width
    if width == 320:
        for lowest, highest, base in _EHT320_BLOCKS:
            if lowest <= channel <= highest:
                low = 5950 + 5 * base - 10
                return low, low + 320
        return f"channel {channel} is not part of any 320 MHz channel on 6g"
    base = 1 + (channel - 1) // step * step
    if base + step - 4 > 233:
        return f"channel {channel} is not part of any {width} MHz channel on 6g"
    low = 5950 + 5 * base - 10
    return low, low + width


def _sub_channel_problem(
    rules: tuple[_Rule, ...], band: str, centre: int, width: int
) -> str | None:
    number = _channel_number(band, centre)
    usable = _usable(rules, centre)
    if usable is None:
        return f"channel {number} is not allowed"
    bandwidth, flags = usable
    if flags & _NO_IR:
        return f"channel {number} is NO-IR"
    if bandwidth < width:
        return f"channel {number} is limited to {bandwidth} MHz"
    return None


def _countries() -> dict[str, str]:
    """Country code -> its rules text ("2400-2472@40 5150-5250@80:AUTO-BW ...")."""
    if not _COUNTRIES:
        for line in _TABLE.replace("\n   ", " ").splitlines():
            code, _, text = line.partition(" ")
            if code:
                _COUNTRIES[code] = text
    return _COUNTRIES


def _rules(country: str) -> tuple[_Rule, ...] | None:
    """The country's rules as (start kHz, end kHz, max bandwidth MHz, flag bits), or None."""
    rules = _PARSED.get(country)
    if rules is None:
        text = _countries().get(country)
        if text is None:
            return None
        rules = _PARSED[country] = tuple(_parse_rule(item) for item in text.split())
    return rules


def _parse_rule(item: str) -> _Rule:
    """ "5150-5250@80:NO-OUTDOOR,AUTO-BW" -> (5150000, 5250000, 80, NO_OUTDOOR | AUTO_BW)."""
    span, _, names = item.partition(":")
    frequencies, _, bandwidth = span.partition("@")
    start, _, end = frequencies.partition("-")
    flags = 0
    for name in filter(None, names.split(",")):
        flags |= FLAG_BITS[name]
    return round(float(start) * 1000), round(float(end) * 1000), int(bandwidth), flags


def _first_fit(rules: tuple[_Rule, ...], low_khz: int, high_khz: int) -> int | None:
    for index, (start, end, _, _) in enumerate(rules):
        if start <= low_khz and high_khz <= end:
            return index
    return None


def _bandwidth(rules: tuple[_Rule, ...], index: int) -> int:
    """Widest bandwidth (MHz) rule index allows; AUTO-BW spans its touching neighbours."""
    start, end, bandwidth, flags = rules[index]
    if flags & _AUTO_BW:
        before = index
        while before > 0 and rules[before - 1][1] >= start:
            before -= 1
            start = rules[before][0]
        after = index
        while after < len(rules) - 1 and rules[after + 1][0] <= end:
            after += 1
            end = rules[after][1]
        bandwidth = (end - start) // 1000
    if flags & _NO_HT40:
        bandwidth = min(bandwidth, 20)
    return bandwidth


def _usable(rules: tuple[_Rule, ...], centre: int) -> tuple[int, int] | None:
    """(max bandwidth MHz, flags) of the 20 MHz channel at centre MHz, None if disabled."""
    low, high = centre * 1000 - 10_000, centre * 1000 + 10_000
    index = _first_fit(rules, low, high)
    if index is not None:
        return _bandwidth(rules, index), rules[index][3]
    # The kernel also enables a channel straddling two touching rules.
    below = _first_fit(rules, low - 20_000, high - 20_000)
    above = _first_fit(rules, low + 20_000, high + 20_000)
    if below is None or above is None or rules[below][1] != rules[above][0]:
        return None
    bandwidth = min(_bandwidth(rules, below), _bandwidth(rules, above))
    return bandwidth, rules[below][3] | rules[above][3]


def _allowed(rules: tuple[_Rule, ...], band: str) -> str:
    """The band's channels usable at 20 MHz in rules, as ranges: "1-11", "36-64, 100-144"."""
    if band == "2g":
        candidates, step = list(range(1, 15)), 1
    elif band == "5g":
        candidates, step = [*range(32, 145, 4), *range(149, 178, 4)], 4
    else:
        candidates, step = list(range(1, 234, 4)), 4
    runs: list[list[int]] = []
    for channel in candidates:
        centre = channel_frequency(band, channel)
        usable = None if centre is None else _usable(rules, centre)
        if usable is None or usable[1] & _NO_IR:
            continue
        if runs and runs[-1][1] + step == channel:
            runs[-1][1] = channel
        else:
            runs.append([channel, channel])
    if not runs:
        return "none"
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


# --- BEGIN GENERATED by scripts/gen-regdomain.py; do not edit by hand ---
# Source: wireless-regdb db.txt
#   repository: https://github.com/sailfishos-mirror/wireless-regdb
#   (a mirror of https://git.kernel.org/pub/scm/linux/kernel/git/wens/wireless-regdb.git)
#   commit:     63d0d6b6aa47bda5850ef58db69112fc7bf392b7
#   date:       2026-05-19T14:56:30+08:00
#   db.txt sha256: c137c85ab9d60d78fa5045fba0d3e2588a50adc12c5119db9d32ed3751773dc2
# One line per country (continued on lines indented by 3 spaces): the code, then
# its rules touching 2300-7300 MHz as start-end@max_bandwidth[:flags] (MHz),
# sorted by (start, end, bandwidth) like dbparse.py. Power and WMM rules are dropped.
# One string rather than a dict keeps the import cheap even without a .pyc.
REGDB_SOURCE: Final = "https://github.com/sailfishos-mirror/wireless-regdb"
REGDB_COMMIT: Final = "63d0d6b6aa47bda5850ef58db69112fc7bf392b7"
REGDB_DATE: Final = "2026-05-19T14:56:30+08:00"
_TABLE: Final = """
00 2402-2472@40 2457-2482@20:NO-IR,AUTO-BW 2474-2494@20:NO-OFDM,NO-IR 5170-5250@80:NO-IR,AUTO-BW
   5250-5330@80:DFS,NO-IR,AUTO-BW 5490-5730@160:DFS,NO-IR 5735-5835@80:NO-IR
AD 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
AE 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
   5925-6425@320:NO-OUTDOOR
AF 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
AI 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
AL 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
AM 2400-2483.5@40 5150-5350@160:NO-OUTDOOR,DFS 5470-5875@160:NO-OUTDOOR,DFS
AN 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
AR 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
   5925-7125@320:NO-OUTDOOR
AS 2402-2472@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
AT 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
AU 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5600@80:DFS 5650-5730@80:DFS 5730-5850@80:AUTO-BW 5850-5875@20:AUTO-BW
   5925-6585@320:NO-OUTDOOR
AW 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
AZ 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5945-6425@320:NO-OUTDOOR
BA 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
BB 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5735-5835@80
BD 2402-2482@40 5735-5835@80
BE 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
BF 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
BG 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
BH 2400-2483.5@40 5150-5350@80:NO-OUTDOOR,DFS 5470-5725@80:DFS 5725-5875@80:DFS
   5925-6425@320:NO-OUTDOOR
BL 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
BM 2402-2472@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
BN 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5730@160:DFS 5730-5850@80
BO 2402-2482@40 5250-5330@80:DFS 5735-5835@80
BR 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS,AUTO-BW 5725-5850@80:AUTO-BW 5925-7125@320:NO-OUTDOOR
BS 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
BT 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
BW 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5725@160:DFS 5725-5850@80:DFS
BY 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
BZ 2402-2482@40 5735-5835@80
CA 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5730@160:DFS
   5730-5850@80:AUTO-BW 5850-5895@40:AUTO-BW 5925-7125@320:NO-OUTDOOR
CF 2402-2482@40 5170-5250@40 5250-5330@40:DFS 5490-5730@40:DFS 5735-5835@40
CH 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
CI 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
CL 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5735-5835@80 5925-6425@320:NO-OUTDOOR
CN 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW 5725-5850@80
CO 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
   5925-7125@320:NO-OUTDOOR
CR 2402-2482@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5730@160:DFS 5730-5850@80:AUTO-BW
   5850-5895@40:AUTO-BW 5895-5925@20:AUTO-BW 5925-7125@320:NO-OUTDOOR
CU 2400-2483.5@40 5150-5350@80:NO-OUTDOOR,NO-IR 5470-5725@80:NO-IR 5725-5850@80
CX 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
CY 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
CZ 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
DE 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
DK 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
DM 2402-2472@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5735-5835@80
DO 2402-2472@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5735-5835@80 5925-7125@320:NO-OUTDOOR
DZ 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5670@160:DFS
EC 2400-2483.5@40 5150-5250@80:DFS,AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5725@160:DFS 5725-5850@80
EE 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS,AUTO-BW 5725-5875@80:AUTO-BW 5945-6425@320:NO-OUTDOOR
EG 2402-2483.5@40:NO-OUTDOOR 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5925-6425@320:NO-OUTDOOR
ES 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
ET 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
FI 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
FM 2402-2472@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
FO 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5945-6425@320:NO-OUTDOOR
FR 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
GB 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5730@160:DFS 5725-5850@80:NO-OUTDOOR 5925-6425@320:NO-OUTDOOR
GD 2402-2472@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
GE 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5945-6425@320:NO-OUTDOOR
GF 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
GH 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
GI 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5945-6425@320:NO-OUTDOOR
GL 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
GP 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
GR 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
GT 2400-2483.5@40 5150-5350@80:NO-OUTDOOR 5470-5725@160:NO-OUTDOOR 5725-5850@80:NO-OUTDOOR
   5925-6425@320:NO-OUTDOOR,AUTO-BW 6425-6525@80:NO-OUTDOOR,AUTO-BW 6525-6875@320:NO-OUTDOOR,AUTO-BW
   6875-7125@160:NO-OUTDOOR,AUTO-BW
GU 2402-2472@40 5170-5250@20 5250-5330@20:DFS 5490-5730@20:DFS 5735-5835@20
GY 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
HK 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5730@160:DFS 5730-5850@80 5945-6425@160:NO-OUTDOOR
HN 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
   5925-6425@320:NO-OUTDOOR,NO-IR
HR 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5725@160:DFS 5725-5875@80
   5945-6425@320:NO-OUTDOOR
HT 2402-2472@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
HU 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
ID 2400-2483.5@40:NO-OUTDOOR 5150-5350@160:NO-OUTDOOR 5725-5825@80:NO-OUTDOOR
   5925-6425@320:NO-OUTDOOR
IE 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
IL 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:NO-OUTDOOR,DFS,AUTO-BW 5725-5875@80:AUTO-BW 5945-6425@320:NO-OUTDOOR
IM 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5945-6425@320:NO-OUTDOOR
IN 2402-2482@40 5150-5250@80 5250-5350@80:DFS 5470-5725@160:DFS 5725-5875@80
   5925-6425@320:NO-OUTDOOR
IR 2400-2483.5@40 5150-5250@80 5250-5350@80:NO-OUTDOOR,DFS 5470-5725@160:NO-INDOOR,DFS
IS 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
IT 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
JM 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
JO 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5725@80:NO-OUTDOOR,DFS
   5725-5875@80:NO-OUTDOOR 5925-6425@320:NO-OUTDOOR
JP 2402-2482@40 2474-2494@20:NO-OFDM 4910-4990@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW
   5490-5730@160:DFS 5925-6425@320:NO-OUTDOOR
KE 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5725@80:DFS 5725-5875@40:DFS
   5925-6425@320:NO-OUTDOOR
KH 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
KN 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS 5735-5815@80
KP 2402-2482@20 5170-5250@20 5250-5330@20:DFS 5490-5630@20:DFS 5735-5815@20
KR 2400-2483.5@40 5150-5230@40:AUTO-BW 5230-5250@20:AUTO-BW 5250-5350@80:DFS,AUTO-BW
   5470-5725@160:DFS 5725-5850@80 5925-6425@320:NO-OUTDOOR,AUTO-BW 6425-7125@320:NO-OUTDOOR,AUTO-BW
KW 2400-2483.5@40 5170-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5825@160:DFS
   5925-6425@320:NO-OUTDOOR
KY 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5730@160:DFS 5725-5875@80
   5925-6425@320:NO-OUTDOOR
KZ 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:NO-OUTDOOR,DFS 5725-5850@80:NO-OUTDOOR 5925-6425@320:NO-OUTDOOR
LB 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
LC 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS 5735-5815@80
LI 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
LK 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5725@160:DFS,AUTO-BW
   5725-5875@80:DFS,AUTO-BW
LS 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
LT 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
LU 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
LV 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
MA 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5925-6425@320:NO-OUTDOOR
MC 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
MD 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
ME 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
MF 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
MH 2402-2472@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
MK 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
MN 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
   5925-6425@320
MO 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5730@160:DFS 5725-5850@80
   5925-6425@320:NO-OUTDOOR
MP 2402-2472@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
MQ 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
MR 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
MT 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
MU 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
   5945-6425@320:NO-OUTDOOR
MV 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5725-5850@80
MW 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
MX 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
   5925-6425@320:NO-OUTDOOR
MY 2400-2500@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5650@160:DFS 5725-5875@80 5925-6425@320:NO-OUTDOOR
NA 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80:DFS 5925-6425@320:NO-OUTDOOR
NG 2402-2482@40 5250-5330@80:DFS 5735-5835@80
NI 2402-2472@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
NL 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
NO 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
NP 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5735-5835@80
NZ 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5730@160:DFS 5725-5875@80
   5925-6425@320:NO-OUTDOOR
OM 2400-2483.5@40:NO-OUTDOOR 5170-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5725@160:DFS
   5725-5850@80:NO-INDOOR,DFS 5925-6425@320:NO-OUTDOOR
PA 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:AUTO-BW 5470-5725@160 5725-5850@80
PE 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
   5925-7125@320:NO-OUTDOOR
PF 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
PG 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
PH 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5725@160:DFS 5725-5850@80
   5925-6425@320:NO-OUTDOOR
PK 2400-2500@40 5725-5875@80 5945-6425@320:NO-OUTDOOR
PL 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
PM 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
PR 2402-2472@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
PT 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
PW 2402-2472@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
PY 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
   5925-6425@320:NO-OUTDOOR
QA 2400-2483.5@40:NO-OUTDOOR 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:NO-OUTDOOR,DFS 5725-5875@80:NO-OUTDOOR,DFS 5925-6425@320:NO-OUTDOOR
RE 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
RO 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
RS 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5725@160:DFS
   5725-5850@80:DFS,AUTO-BW 5850-5875@20:AUTO-BW 5925-6425@320:NO-OUTDOOR
RU 2400-2483.5@40 5150-5350@160:NO-OUTDOOR 5650-5850@160:NO-OUTDOOR 5925-6425@320:NO-OUTDOOR
RW 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
SA 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
   5925-7125@320:NO-OUTDOOR
SE 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
SG 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5730@160:DFS 5725-5850@80
   5945-6425@320:NO-OUTDOOR
SI 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
SK 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5875@80 5945-6425@320:NO-OUTDOOR
SM 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5945-6425@320:NO-OUTDOOR
SN 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
SR 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
SV 2402-2482@40 5170-5250@20 5250-5330@20:DFS 5735-5835@20 5925-7125@320:NO-OUTDOOR
SX 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5725@160:DFS 5725-5875@80:DFS
SY 2400-2483.5@40:NO-OUTDOOR 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:NO-OUTDOOR,DFS 5725-5850@80:NO-OUTDOOR,DFS,AUTO-BW 5850-5875@20:NO-OUTDOOR,AUTO-BW
TC 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
TD 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
TG 2400-2483.5@40:DFS 5150-5350@80:DFS 5470-5850@160:DFS 5925-6425@320:NO-OUTDOOR,DFS
TH 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
   5925-6425@320:NO-OUTDOOR
TN 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5925-6425@320:NO-OUTDOOR
TR 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5330@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5945-6425@320:NO-OUTDOOR
TT 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
TW 2400-2483.5@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5730@160:DFS 5725-5850@80
   5945-6425@320:NO-OUTDOOR
TZ 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5725-5850@80:DFS 5945-6425@320:NO-OUTDOOR
UA 2400-2483.5@40:NO-OUTDOOR 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:NO-OUTDOOR,DFS 5725-5850@80:NO-OUTDOOR 5945-6425@320:NO-OUTDOOR
UG 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
US 2400-2472@40 5150-5250@80:AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5730@160:DFS 5730-5850@80:AUTO-BW
   5850-5895@40:NO-OUTDOOR,NO-IR,AUTO-BW 5925-7125@320:NO-OUTDOOR,NO-IR
UY 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5735-5835@80
UZ 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW
VA 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:NO-OUTDOOR,DFS,AUTO-BW
   5470-5725@160:DFS 5945-6425@320:NO-OUTDOOR
VC 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
VE 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5735-5835@80
VI 2402-2472@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
VN 2400-2483.5@40 5150-5250@80:NO-OUTDOOR,AUTO-BW 5250-5350@80:DFS,AUTO-BW 5470-5725@160:DFS,AUTO-BW
   5725-5850@80:AUTO-BW 5925-6425@320:NO-OUTDOOR,AUTO-BW
VU 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5730@160:DFS 5735-5835@80
WF 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
WS 2402-2482@40 5170-5250@40 5250-5330@40:DFS 5490-5710@40:DFS
YE 2402-2482@40
YT 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
ZA 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160 5925-6425@320:NO-OUTDOOR
ZW 2402-2482@40 5170-5250@80:AUTO-BW 5250-5330@80:DFS,AUTO-BW 5490-5710@160:DFS
"""
# --- END GENERATED ---
