"""controller.model.regdomain: channel legality per country from wireless-regdb.

Expectations follow the db.txt lines quoted in tests/fixtures/regdomain/PROVENANCE.md
(wireless-regdb commit 63d0d6b6aa47bda5850ef58db69112fc7bf392b7);
test_table_matches_provenance_excerpt ties those lines to the generated table.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from controller.model import regdomain
from controller.model.regdomain import (
    BANDS,
    channel_frequency,
    channel_problem,
    known_country,
)

ROOT = Path(__file__).resolve().parents[2]
PROVENANCE = ROOT / "tests/fixtures/regdomain/PROVENANCE.md"
PROVENANCE_COMMIT = "63d0d6b6aa47bda5850ef58db69112fc7bf392b7"
EXCERPT_COUNTRIES = ("00", "BR", "DE", "JP", "KE", "US")
WIDE_MODES = (None, "NOHT", "HT20", "HT40", "HT40+", "HT40-", "VHT80", "HE160", "EHT320")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_regdomain", ROOT / "scripts/gen-regdomain.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_regdomain", module)
    spec.loader.exec_module(module)
    return module


def _excerpt() -> str:
    match = re.search(r"```db\.txt\n(.*?)```", PROVENANCE.read_text(encoding="utf-8"), re.S)
    assert match is not None, "PROVENANCE.md has no ```db.txt block"
    return match.group(1)


def _all_channels(band: str) -> list[int]:
    return [channel for channel in range(240) if channel_frequency(band, channel) is not None]


# --- provenance -----------------------------------------------------------------------


def test_table_comes_from_the_commit_named_in_provenance() -> None:
    assert regdomain.REGDB_COMMIT == PROVENANCE_COMMIT
    assert PROVENANCE_COMMIT in PROVENANCE.read_text(encoding="utf-8")
    assert "wireless-regdb" in regdomain.REGDB_SOURCE
    assert regdomain.REGDB_DATE.startswith("2026-05-19")


def test_table_matches_provenance_excerpt() -> None:
    gen = _generator()
    parsed = gen.parse_db(_excerpt())
    assert sorted(parsed) == sorted(EXCERPT_COUNTRIES)
    for code in EXCERPT_COUNTRIES:
        expected = gen.format_rules(gen.wifi_rules(parsed[code], code))
        assert regdomain._countries()[code] == expected, code


def test_generator_flags_are_known_to_the_module() -> None:
    assert set(_generator().KNOWN_FLAGS) <= set(regdomain.FLAG_BITS)


def test_every_country_entry_parses() -> None:
    assert len(regdomain._countries()) > 150
    for code in regdomain._countries():
        assert re.fullmatch(r"[0-9A-Z]{2}", code)
        rules = regdomain._rules(code)
        assert rules, code
        for start, end, bandwidth, flags in rules:
            assert end > 2_300_000 and start < 7_300_000 and start < end, (code, start, end)
            assert bandwidth > 0 and flags < 2 ** len(regdomain.FLAG_BITS)
        assert list(rules) == sorted(rules, key=lambda rule: rule[:3]), code


def test_generator_splice_replaces_only_the_generated_block() -> None:
    gen = _generator()
    block = gen.render_block(
        gen.parse_db(_excerpt()),
        repository="https://example.invalid/wireless-regdb",
        commit="0" * 40,
        date="2000-01-01T00:00:00+00:00",
        sha256="f" * 64,
    )
    assert all(len(line) <= 100 for line in block.splitlines())
    module_text = (ROOT / "controller/model/regdomain.py").read_text(encoding="utf-8")
    spliced = gen.splice(module_text, block)
    head = module_text[: module_text.index(gen.BEGIN_MARKER)]
    assert spliced.startswith(head)
    assert f'REGDB_COMMIT: Final = "{"0" * 40}"' in spliced
    assert "\nKE 2400-2483.5@40 " in spliced and "\nLK " not in spliced
    compile(spliced, "regdomain.py", "exec")


def test_generator_rejects_unknown_flags() -> None:
    gen = _generator()
    with pytest.raises(gen.RegdbSyntaxError, match="NO-SUCH-FLAG"):
        gen.parse_db("country ZZ: DFS-ETSI\n\t(2400 - 2483.5 @ 40), (20), NO-SUCH-FLAG\n")


# --- public API basics ----------------------------------------------------------------


def test_bands() -> None:
    assert BANDS == ("2g", "5g", "6g")


@pytest.mark.parametrize(
    ("band", "channel", "mhz"),
    [
        ("2g", 1, 2412),
        ("2g", 13, 2472),
        ("2g", 14, 2484),
        ("2g", 0, None),
        ("2g", 15, None),
        ("2g", 36, None),
        ("5g", 32, 5160),
        ("5g", 36, 5180),
        ("5g", 144, 5720),
        ("5g", 149, 5745),
        ("5g", 165, 5825),
        ("5g", 177, 5885),
        ("5g", 7, None),
        ("5g", 145, None),
        ("5g", 148, None),
        ("5g", 181, None),
        ("6g", 1, 5955),
        ("6g", 37, 6135),
        ("6g", 233, 7115),
        ("6g", 2, None),
        ("6g", 237, None),
        ("60g", 1, None),
    ],
)
def test_channel_frequency(band: str, channel: int, mhz: int | None) -> None:
    assert channel_frequency(band, channel) == mhz


def test_channel_counts() -> None:
    assert _all_channels("2g") == list(range(1, 15))
    assert len(_all_channels("5g")) == 29 + 8
    assert len(_all_channels("6g")) == 59


@pytest.mark.parametrize("code", ["US", "DE", "KE", "BR", "JP", "00"])
def test_known_country(code: str) -> None:
    assert known_country(code)


@pytest.mark.parametrize("code", ["XX", "us", "", "USA", "EU"])
def test_unknown_country(code: str) -> None:
    assert not known_country(code)


def test_unknown_country_problem() -> None:
    assert channel_problem("XX", "2g", 1, None) == (
        "unknown country code 'XX': not in the wireless regulatory database"
    )
    problem = channel_problem("de", "2g", 1, None)
    assert problem is not None and "'DE'" in problem


@pytest.mark.parametrize(
    ("band", "channel", "expected"),
    [
        ("2g", 36, "channel 36 does not exist on 2g (valid: 1-14)"),
        ("5g", 7, "channel 7 does not exist on 5g (valid: 32-144 and 149-177, in steps of 4)"),
        ("5g", 146, "channel 146 does not exist on 5g"),
        ("6g", 2, "channel 2 does not exist on 6g (valid: 1-233 with channel % 4 == 1)"),
        ("6g", 36, "channel 36 does not exist on 6g"),
    ],
)
def test_channel_not_on_band(band: str, channel: int, expected: str) -> None:
    problem = channel_problem("US", band, channel, None)
    assert problem is not None and problem.startswith(expected)


def test_unknown_band_and_htmode() -> None:
    assert channel_problem("US", "60g", 1, None) == (
        "unknown band '60g' (expected one of 2g, 5g, 6g)"
    )
    problem = channel_problem("US", "5g", 36, "VHT320")
    assert problem is not None and problem.startswith("unknown htmode 'VHT320'")


# --- 2.4 GHz ------------------------------------------------------------------------


@pytest.mark.parametrize("channel", range(1, 12))
@pytest.mark.parametrize("htmode", [None, "NOHT", "HT20", "HE20", "HT40"])
def test_us_2g_channels_1_to_11(channel: int, htmode: str | None) -> None:
    assert channel_problem("US", "2g", channel, htmode) is None


@pytest.mark.parametrize("channel", [12, 13])
def test_us_2g_channels_12_13_rejected(channel: int) -> None:
    # US: (2400 - 2472 @ 40); channel 12 spans 2457-2477.
    assert channel_problem("US", "2g", channel, None) == (
        f"channel {channel} is not allowed in US on 2g (allowed: 1-11)"
    )


@pytest.mark.parametrize("country", ["KE", "DE"])
@pytest.mark.parametrize("channel", [12, 13])
def test_2g_channels_12_13_in_ke_de(country: str, channel: int) -> None:
    # KE, DE: (2400 - 2483.5 @ 40)
    assert channel_problem(country, "2g", channel, None) is None
    assert channel_problem(country, "2g", channel, "HT40") is None  # secondary is 4 below


@pytest.mark.parametrize("htmode", [None, "NOHT"])
def test_2g_channel_14_in_jp(htmode: str | None) -> None:
    # JP: (2474 - 2494 @ 20), (20), NO-OFDM
    assert channel_problem("JP", "2g", 14, htmode) is None


def test_2g_channel_14_in_jp_is_80211b_only() -> None:
    assert channel_problem("JP", "2g", 14, "HT20") == (
        "channel 14 is 802.11b only in JP (NO-OFDM), which HT20 cannot do: "
        "use htmode NOHT or another channel"
    )
    assert channel_problem("JP", "2g", 13, "HT20") is None


@pytest.mark.parametrize(("country", "allowed"), [("US", "1-11"), ("DE", "1-13"), ("KE", "1-13")])
def test_2g_channel_14_elsewhere(country: str, allowed: str) -> None:
    assert channel_problem(country, "2g", 14, None) == (
        f"channel 14 is not allowed in {country} on 2g (allowed: {allowed})"
    )


def test_2g_channel_14_world_domain_is_no_ir() -> None:
    # 00: (2474 - 2494 @ 20), (20), NO-IR, NO-OFDM; channels 12-13 NO-IR too.
    for channel in (12, 13, 14):
        problem = channel_problem("00", "2g", channel, None)
        assert problem is not None and " is NO-IR in 00 on 2g" in problem
    assert channel_problem("00", "2g", 11, None) is None


def test_2g_ht40_secondary_channel() -> None:
    assert channel_problem("US", "2g", 7, "HT40+") is None  # 7+11
    assert channel_problem("US", "2g", 8, "HT40+") == (
        "channel 8 with HT40+ needs 40 MHz at 2437-2477 MHz (channels 8+12), "
        "which US does not allow: channel 12 is not allowed"
    )
    assert channel_problem("DE", "2g", 10, "HT40+") == (
        "channel 10 with HT40+ needs secondary channel 14, which does not exist on 2g"
    )
    assert channel_problem("US", "2g", 3, "HT40-") is not None
    assert channel_problem("JP", "2g", 14, "HT40") is not None


def test_2g_wider_modes_run_at_40_mhz() -> None:
    # OpenWrt runs VHT80/HE80 on 2.4 GHz at 40 MHz.
    assert channel_problem("DE", "2g", 6, "HE80") is None


# --- 5 GHz ------------------------------------------------------------------------


@pytest.mark.parametrize("country", ["DE", "KE", "BR"])
@pytest.mark.parametrize("htmode", ["VHT80", "HE80", "EHT80", "VHT20", "HT40"])
def test_5g_36_vht80(country: str, htmode: str) -> None:
    # (5150 - 5250 @ 80) ... AUTO-BW in all three.
    assert channel_problem(country, "5g", 36, htmode) is None


@pytest.mark.parametrize("country", ["DE", "KE", "BR", "US", "JP"])
def test_5g_36_160_mhz_through_auto_bw(country: str) -> None:
    # Two touching AUTO-BW rules (5150/5170-5250, 5250-5330/5350) span >= 160 MHz.
    assert channel_problem(country, "5g", 36, "VHT160") is None
    assert channel_problem(country, "5g", 64, "HE160") is None


@pytest.mark.parametrize("country", ["US", "JP", "DE", "BR", "KE"])
def test_5g_144_at_20_mhz(country: str) -> None:
    assert channel_problem(country, "5g", 144, None) is None


@pytest.mark.parametrize("country", ["US", "JP", "DE", "BR"])
def test_5g_144_vht80(country: str) -> None:
    assert channel_problem(country, "5g", 144, "VHT80") is None
    assert channel_problem(country, "5g", 132, "VHT80") is None


def test_5g_144_in_ke_only_up_to_40_mhz() -> None:
    # KE: (5470 - 5725 @ 80) then (5725 - 5875 @ 40): 144 straddles both.
    assert channel_problem("KE", "5g", 144, "HT40") is None
    assert channel_problem("KE", "5g", 144, "VHT80") == (
        "channel 144 with VHT80 needs 80 MHz at 5650-5730 MHz (channels 132-144), "
        "which KE does not allow: channel 144 is limited to 40 MHz"
    )
    # 132's block includes 144, so the same problem names 144.
    problem = channel_problem("KE", "5g", 132, "VHT80")
    assert problem is not None and problem.endswith("channel 144 is limited to 40 MHz")


@pytest.mark.parametrize("channel", [149, 153, 157, 161, 165])
def test_5g_149_to_165_in_us(channel: int) -> None:
    assert channel_problem("US", "5g", channel, None) is None
    assert channel_problem("US", "5g", channel, "VHT80" if channel < 165 else "HT20") is None


@pytest.mark.parametrize("channel", [169, 173, 177])
def test_5g_169_up_in_us_is_no_ir(channel: int) -> None:
    # US: (5850 - 5895 @ 40), (27), NO-OUTDOOR, AUTO-BW, NO-IR
    assert channel_problem("US", "5g", channel, None) == (
        f"channel {channel} is NO-IR in US on 5g: an access point or mesh node may not start "
        "there (allowed: 32-68, 96-144, 149-165)"
    )


def test_5g_149_vht160_in_us_hits_no_ir() -> None:
    assert channel_problem("US", "5g", 149, "VHT160") == (
        "channel 149 with VHT160 needs 160 MHz at 5735-5895 MHz (channels 149-177), "
        "which US does not allow: channel 169 is NO-IR"
    )


@pytest.mark.parametrize("channel", [149, 165, 173])
def test_5g_149_up_in_de(channel: int) -> None:
    assert channel_problem("DE", "5g", channel, None) is None


def test_5g_177_not_in_de_br_ke() -> None:
    for country in ("DE", "KE"):
        problem = channel_problem(country, "5g", 177, None)
        assert problem is not None and problem.startswith(
            f"channel 177 is not allowed in {country}"
        )
    assert channel_problem("BR", "5g", 169, None) is not None
    assert channel_problem("BR", "5g", 165, None) is None


def test_5g_149_in_ke_only_up_to_40_mhz() -> None:
    # KE: (5725 - 5875 @ 40), (24), DFS
    assert channel_problem("KE", "5g", 149, "HT40") is None
    assert channel_problem("KE", "5g", 149, "VHT80") == (
        "channel 149 with VHT80 needs 80 MHz at 5735-5815 MHz (channels 149-161), "
        "which KE does not allow: channel 149 is limited to 40 MHz"
    )


def test_5g_149_vht80_in_br() -> None:
    assert channel_problem("BR", "5g", 149, "VHT80") is None


@pytest.mark.parametrize("channel", [149, 165])
def test_5g_149_up_not_in_jp(channel: int) -> None:
    assert channel_problem("JP", "5g", channel, None) == (
        f"channel {channel} is not allowed in JP on 5g (allowed: 36-64, 100-144)"
    )


def test_5g_world_domain_is_no_ir() -> None:
    problem = channel_problem("00", "5g", 36, None)
    assert problem is not None and problem.startswith("channel 36 is NO-IR in 00 on 5g")
    assert problem.endswith("(allowed: none)")


def test_5g_blocks() -> None:
    assert channel_problem("US", "5g", 36, "EHT320") == (
        "5g has no 320 MHz channels (EHT320 needs 6g)"
    )
    assert channel_problem("US", "5g", 32, "HT40") == (
        "channel 32 is not part of any 40 MHz channel on 5g"
    )
    assert channel_problem("US", "5g", 132, "VHT160") == (
        "channel 132 is not part of any 160 MHz channel on 5g"
    )
    # 40 MHz pairs are fixed on 5 GHz: HT40+ or HT40- does not move them.
    assert channel_problem("DE", "5g", 40, "HT40+") is None


# --- 6 GHz ------------------------------------------------------------------------


def test_6g_de() -> None:
    # DE: (5945 - 6425 @ 320), (23), NO-OUTDOOR
    assert channel_problem("DE", "6g", 1, "HE80") is None
    assert channel_problem("DE", "6g", 93, None) is None
    assert channel_problem("DE", "6g", 1, "EHT320") is None  # 1-61
    assert channel_problem("DE", "6g", 97, None) == (
        "channel 97 is not allowed in DE on 6g (allowed: 1-93)"
    )
    problem = channel_problem("DE", "6g", 65, "EHT320")
    assert problem is not None and problem.endswith("channel 97 is not allowed")


def test_6g_us_is_no_ir() -> None:
    # US: (5925 - 7125 @ 320), (12), NO-OUTDOOR, NO-IR
    problem = channel_problem("US", "6g", 37, "HE160")
    assert problem is not None and problem.startswith("channel 37 is NO-IR in US on 6g")


def test_6g_br_whole_band() -> None:
    # BR: (5925 - 7125 @ 320), (12), NO-OUTDOOR
    assert channel_problem("BR", "6g", 233, None) is None
    assert channel_problem("BR", "6g", 193, "EHT320") is None  # 161-221
    assert channel_problem("BR", "6g", 225, "EHT320") == (
        "channel 225 is not part of any 320 MHz channel on 6g"
    )
    assert channel_problem("BR", "6g", 233, "HE40") == (
        "channel 233 is not part of any 40 MHz channel on 6g"
    )


# --- sweep ------------------------------------------------------------------------


@pytest.mark.parametrize("country", EXCERPT_COUNTRIES)
def test_sweep_is_consistent(country: str) -> None:
    """Every answer is None or a sentence; a wider mode never passes where 20 MHz fails."""
    for band in BANDS:
        for channel in _all_channels(band):
            narrow = channel_problem(country, band, channel, None)
            for htmode in WIDE_MODES:
                problem = channel_problem(country, band, channel, htmode)
                assert problem is None or (problem and "\n" not in problem)
                if narrow is not None and htmode not in (None, "NOHT"):
                    assert problem is not None, (country, band, channel, htmode)
