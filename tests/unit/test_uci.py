"""UCI codec against real libuci: recorded exports, probes, a differential corpus.

Ground truth is in tests/fixtures/uci/ (see its PROVENANCE.md): real config
files with what `uci export` printed for each, libuci's behaviour on synthetic
defects, and libuci's output on 376 synthetic inputs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from controller.errors import UciError
from controller.uci import (
    Package,
    Section,
    emit,
    export,
    parse,
    validate_name,
    validate_package_name,
    validate_type,
    validate_value,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "uci"
PROBES = FIXTURES / "libuci-probes"
LIBUCI_ERROR = re.compile(r"Parse error \((.*)\) at line (\d+), byte \d+")

# The package each real fixture was loaded as when libuci exported it (PROVENANCE.md).
REAL = {
    "agoodkind-backups__dhcp": "dhcp",
    "agoodkind-backups__network": "network",
    "agoodkind-backups__system": "system",
    "battlemesh-v8__babeld": "babeld",
    "battlemesh-v8__batman-adv": "batman-adv",
    "battlemesh-v8__wireless": "wireless",
    "libre-mesh-config__batman-adv": "batman-adv",
    "libre-mesh-config__firewall": "firewall",
    "libre-mesh-config__network": "network",
    "libremesh__librerouter-v1__network": "network",
    "libremesh__librerouter-v1__wireless": "wireless",
    "libremesh__lime-defaults": "lime-defaults",
    "libremesh__wifi-unstuck-wa__wireless": "wireless",
    "openwrt-firewall4__firewall": "firewall",
    "openwrt-packages__ddns": "ddns",
    "openwrt-packages__olsrd": "olsrd",
    "openwrt-routing__babeld": "babeld",
    "openwrt-routing__batman-adv": "batman-adv",
    "openwrt__base-files_system_legacy": "system",
    "openwrt__dropbear.config": "dropbear",
    "openwrt__firewall3_firewall.config": "firewall",
    "riot-mesh__network": "network",
    "seba-smart-services__network": "network",
}


def read(path: Path) -> str:
    """The file's text with its bytes as they are (no newline translation: CRLF matters)."""
    return path.read_bytes().decode("utf-8")


QUOTE, ESCAPED = "'", "'\\''"  # uci_escape(): a quote is written as '\''


def libuci_export(pkg: Package) -> str:
    """uci_export_package() in libuci's file.c, without the emitter's refusals."""
    out = [f"package {pkg.name}\n"]
    for s in pkg.sections:
        name = "" if s.name is None else f" '{s.name}'"
        out.append(f"\nconfig {s.type.replace(QUOTE, ESCAPED)}{name}\n")
        for key, value in s.options.items():
            command = "option" if isinstance(value, str) else "list"
            for item in [value] if isinstance(value, str) else value:
                out.append(f"\t{command} {key} '{item.replace(QUOTE, ESCAPED)}'\n")
    out.append("\n")
    return "".join(out)


def emittable(pkg: Package) -> bool:
    """Whether libuci would read the export back as the same model."""
    try:
        for s in pkg.sections:
            validate_type(s.type)
            for value in s.options.values():
                for item in [value] if isinstance(value, str) else value:
                    validate_value(item)
    except ValueError:
        return False
    return True


def expect_libuci_error(text: str, package: str, stderr: str, line_lag: int = 0) -> None:
    reason, line = LIBUCI_ERROR.search(stderr).groups()  # type: ignore[union-attr]
    with pytest.raises(UciError) as caught:
        parse(text, package=package, source="F")
    assert caught.value.what.startswith(reason)
    assert caught.value.line == int(line) + line_lag
    assert caught.value.source == "F"


# ------------------------------------------------------------ real files


def test_every_real_fixture_is_listed() -> None:
    files = {p.name for p in FIXTURES.iterdir() if p.is_file() and p.suffix != ".md"}
    assert files == set(REAL)


@pytest.mark.parametrize("fixture", sorted(REAL))
def test_export_matches_libuci_byte_for_byte(fixture: str) -> None:
    captured = FIXTURES / "libuci-export-show" / fixture
    assert read(captured.with_name(f"{fixture}.uci-export.err")) == "exit=0\n"
    pkg = parse(read(FIXTURES / fixture), package=REAL[fixture], source=fixture)
    assert export(pkg) == read(captured.with_name(f"{fixture}.uci-export.out"))


@pytest.mark.parametrize("fixture", sorted(REAL))
def test_emit_reads_back_as_the_same_model(fixture: str) -> None:
    pkg = parse(read(FIXTURES / fixture), package=REAL[fixture])
    text = emit(pkg)
    assert export(pkg) == f"package {pkg.name}\n{text}"
    assert parse(text, package=pkg.name) == pkg


def test_real_file_model() -> None:
    pkg = parse(read(FIXTURES / "agoodkind-backups__network"), package="network")
    device = pkg.sections[2]
    assert (device.type, device.name) == ("device", None)
    assert device.get("name") == "br-lan"
    assert device.get("ports") == ["lan1", "lan2", "lan3", "lan4", "wan"]
    lan = pkg.section("lan")
    assert lan is not None
    assert lan.options["device"] == "br-lan"
    assert pkg.section("nope") is None


# ------------------------------------------------------------ probes


def probe_names() -> list[str]:
    return sorted(p.name for p in PROBES.glob("p[0-9][0-9]_*") if p.suffix == "")


def libuci_export_capture(transcript: str) -> tuple[str, str, int]:
    """(package, output, exit status) of the `uci -c DIR export PKG` run in a transcript."""
    found = re.search(r"### uci -c DIR export (\S+)\n(.*?)exit=(\d+)\n", transcript, re.DOTALL)
    assert found is not None
    return found[1], found[2], int(found[3])


@pytest.mark.parametrize("probe", probe_names())
def test_probe_behaves_as_libuci(probe: str) -> None:
    text = read(PROBES / probe)
    package, output, status = libuci_export_capture(read(PROBES / f"{probe}.transcript.txt"))
    if status == 0:
        assert export(parse(text, package=package)) == output
    else:
        expect_libuci_error(text, package, output)


def test_probe_list_is_complete() -> None:
    assert len(probe_names()) == 9


def test_emit_matches_uci_commit_of_a_hostile_value() -> None:
    transcript = read(PROBES / "p20_set_commit_quotes.transcript.txt")
    cat_a = transcript.split("### resulting file bytes (cat -A)\n")[1].split("### uci show")[0]
    committed = cat_a.replace("$\n", "\n").replace("^I", "\t")
    exported = transcript.split("### uci export wireless\n")[1].split("### stat")[0]
    ssid = 'Bob\'s "Cafe"; reboot'
    batch = read(PROBES / "p20_batch_input.txt")
    assert 'ssid="Bob\'s \\"Cafe\\"; reboot"' in batch  # what `uci batch` was given
    pkg = Package("wireless", [Section("wifi-iface", "guest", {"ssid": ssid})])
    assert emit(pkg) == committed
    assert export(pkg) == exported
    assert parse(committed, package="wireless") == pkg


# ------------------------------------------------------------ differential corpus

CASES: list[dict[str, Any]] = json.loads(read(FIXTURES / "libuci-differential" / "cases.json"))


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_same_result_as_libuci(case: dict[str, Any]) -> None:
    if case["exit"] != 0:
        # Deliberate difference: on a last line without a newline libuci's line
        # counter has not counted that line yet; we report the line itself.
        lag = 1 if "no-newline" in case["name"] else 0
        expect_libuci_error(case["input"], "network", case["stderr"], lag)
        return
    pkg = parse(case["input"], package="network")
    assert libuci_export(pkg) == case["stdout"]
    if emittable(pkg):
        assert export(pkg) == case["stdout"]
    else:  # libuci would write it, but would not read it back as the same model
        with pytest.raises(ValueError, match=r"section type|cannot be stored"):
            export(pkg)


def test_corpus_covers_every_libuci_reason() -> None:
    reasons = {m[1] for case in CASES if (m := LIBUCI_ERROR.search(case["stderr"]))}
    assert reasons >= {
        "EOF with unterminated '",
        'EOF with unterminated "',
        "invalid command",
        "invalid character in name field",
        "invalid character in type field",
        "too many arguments",
        "insufficient arguments",
        "option/list command found before the first section",
        "section of different type overwrites prior section with same name",
        "config without name",
        "option without name",
    }
    assert sum(case["exit"] == 0 for case in CASES) > 100


# ------------------------------------------------------------ parser details


def test_parse_model() -> None:
    text = (
        "config interface 'lan'\n"
        "\toption proto static\n"
        "\tlist dns '198.18.0.53'\n"
        '\tlist dns "198.18.0.54"\n'
        "config rule\n"
        "\toption name 'a'\\''b' # comment\n"
        "config interface 'lan'\n"
        "\toption proto 'dhcp'\n"
    )
    assert parse(text, package="network") == Package(
        "network",
        [
            Section("interface", "lan", {"proto": "dhcp", "dns": ["198.18.0.53", "198.18.0.54"]}),
            Section("rule", None, {"name": "a'b"}),
        ],
    )


def test_error_line_is_where_the_parser_stands() -> None:
    text = "config a 'b'\n\toption x 'one\ntwo\nthree' extra\n"
    with pytest.raises(UciError) as caught:
        parse(text, package="network", source="/etc/config/network")
    assert caught.value.line == 4
    assert str(caught.value).startswith("/etc/config/network:4: too many arguments")


def test_last_line_without_newline_reports_that_line() -> None:
    with pytest.raises(UciError) as caught:
        parse("config a 'b'\n\toption x 'y' z", package="network")
    assert caught.value.line == 2  # libuci says 1 here: its counter lags


def test_nul_is_refused_with_its_line() -> None:
    with pytest.raises(UciError, match="NUL") as caught:
        parse("config a 'b'\n\toption x 'y\x00'\n", package="network")
    assert caught.value.line == 2


def test_error_messages_do_not_echo_values() -> None:
    for text in ("config a 'b'\n\toption key hunter2 more\n", "config a 'b'\n\tkey 'hunter2'\n"):
        with pytest.raises(UciError) as caught:
            parse(text, package="network")
        assert "hunter2" not in str(caught.value)


def test_parse_refuses_a_bad_package_argument() -> None:
    with pytest.raises(ValueError, match="package name"):
        parse("", package="net.work")


def test_long_multiline_value_is_linear() -> None:
    body = "x" * 60 + "\n"
    pkg = parse(f"config a 'b'\n\toption v '{body * 20000}'\n", package="network")
    assert pkg.sections[0].options["v"] == body * 20000


# ------------------------------------------------------------ emitter


def test_emit_format() -> None:
    pkg = Package(
        "wireless",
        [
            Section("wifi-device", "radio0", {"channel": "11", "htmode": "HT20"}),
            Section("wifi-iface", None, {"ssid": "it's", "maclist": ["a", "", "b"]}),
            Section("wifi-iface", "empty"),
        ],
    )
    assert emit(pkg) == (
        "\nconfig wifi-device 'radio0'\n\toption channel '11'\n\toption htmode 'HT20'\n"
        "\nconfig wifi-iface\n\toption ssid 'it'\\''s'\n"
        "\tlist maclist 'a'\n\tlist maclist ''\n\tlist maclist 'b'\n"
        "\nconfig wifi-iface 'empty'\n\n"
    )


def test_emit_empty_package() -> None:
    assert emit(Package("network")) == "\n"
    assert export(Package("network")) == "package network\n\n"


HOSTILE = [
    'Bob\'s "Cafe"; reboot',
    "$(reboot)",
    "`reboot`",
    "'; reboot; '",
    "'\\''",
    "\\",
    "\\'",
    "a\\",
    '"',
    "''",
    "#not a comment",
    " # still not",
    "a;b",
    ";",
    "option x 'y'",
    "\nconfig evil 'x'\n\toption a 'b'\n",
    "line1\r\nline2",
    "\t\t",
    " ",
    "%s%n{0}",
    "ünïcödé ☕ 😀 \u202e",
    "\x7f\x85\u2028",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_survive_as_data(value: str) -> None:
    pkg = Package("wireless", [Section("wifi-iface", "guest", {"ssid": value, "l": [value, "x"]})])
    text = emit(pkg)
    assert f"\toption ssid '{value.replace(QUOTE, ESCAPED)}'\n" in text
    back = parse(text, package="wireless")
    assert back == pkg
    assert [s.name for s in back.sections] == ["guest"]


@pytest.mark.parametrize(
    ("pkg", "message"),
    [
        (Package("net.work"), "package name"),
        (Package("network", [Section("interface", "la-n")]), "section name"),
        (Package("network", [Section("interface", "")]), "section name"),
        (Package("network", [Section("interface", "lañ")]), "section name"),
        (Package("network", [Section("inter face")]), "section type"),
        (Package("network", [Section("")]), "section type"),
        (Package("network", [Section("it's")]), "section type"),
        (Package("network", [Section("a#b")]), "section type"),
        (Package("network", [Section("a;b")]), "section type"),
        (Package("network", [Section("a\\b")]), "section type"),
        (Package("network", [Section("typé")]), "section type"),
        (Package("network", [Section("t", None, {"pro-to": "x"})]), "option"),
        (Package("network", [Section("t", None, {"": "x"})]), "option"),
        (Package("network", [Section("t", None, {"a": ""})]), "is empty"),
        (Package("network", [Section("t", None, {"a": []})]), "no items"),
        (Package("network", [Section("t", "x"), Section("t", "x")]), "used twice"),
        (Package("network", [Section("t", None, {"a": "x\x00"})]), "U\\+0000"),
        (Package("network", [Section("t", None, {"a": "\x1b[31m"})]), "U\\+001B"),
        (Package("network", [Section("t", None, {"a": ["ok", "\x0b"]})]), "U\\+000B"),
        (Package("network", [Section("t", None, {"a": "\ud800"})]), "U\\+D800"),
        (Package("network", [Section("iface"), Section("iface", "cfg01a57d")]), "anonymous"),
    ],
)
def test_emit_refuses_what_libuci_would_not_read_back(pkg: Package, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        emit(pkg)


def test_anonymous_name_clash_is_real() -> None:
    # What the refusal above prevents: libuci merges the named section into the anonymous one.
    text = "\nconfig iface\n\nconfig iface 'cfg01a57d'\n\toption a 'x'\n\n"
    merged = Package("network", [Section("iface", None, {"a": "x"})])
    assert parse(text, package="network") == merged
    named_first = Package("network", [Section("iface", "cfg02a57d"), Section("iface")])
    assert parse(emit(named_first), package="network") == named_first


def test_value_refusal_does_not_show_the_value() -> None:
    pkg = Package("network", [Section("t", "s", {"key": "hunter2\x01"})])
    with pytest.raises(ValueError, match=r"option s\.key") as caught:
        emit(pkg)
    assert "hunter2" not in str(caught.value)


def test_exactly_the_control_characters_libuci_refuses_are_refused() -> None:
    # uci_validate_text() in libuci's util.c: below 32, only tab, LF and CR.
    for code in range(0x20):
        pkg = Package("network", [Section("t", "s", {"v": f"a{chr(code)}b"})])
        if chr(code) in "\t\n\r":
            assert parse(emit(pkg), package="network") == pkg
        else:
            with pytest.raises(ValueError, match=f"U\\+{code:04X}"):
                emit(pkg)


def test_validators() -> None:
    validate_name("ip6assign")
    validate_package_name("batman-adv")
    validate_type("wifi-iface")
    validate_value("tab\tlf\ncr\r")
    for call, bad in [
        (validate_name, "a.b"),
        (validate_package_name, "a/b"),
        (validate_type, "a b"),
        (validate_value, "\x07"),
    ]:
        with pytest.raises(ValueError, match=r"\w"):
            call(bad)
