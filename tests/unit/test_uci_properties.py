"""Properties of the UCI codec, checked on generated packages and texts."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from controller.errors import UciError
from controller.uci import Package, Section, emit, export, parse, validate_type, validate_value

SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow])

NAME_CHARS = "abcfgzABCZ019_"
# Any printable ASCII but space and what uci_export would write unquoted and
# unreadable ('"#;\\): the emitter refuses those (see test_uci.py).
TYPE_CHARS = "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in "'\"#;\\")
# Names libuci accepts. Names of the form cfgNNHHHH can clash with the name
# libuci gives an anonymous section; the emitter refuses those clashes (see
# test_uci.py), so they are left out here.
names = st.text(NAME_CHARS, min_size=1, max_size=10).filter(lambda n: not n.startswith("cfg"))
types = st.text(TYPE_CHARS, min_size=1, max_size=10)
package_names = st.text(NAME_CHARS + "-", min_size=1, max_size=10)
# Any text libuci can hold (uci_validate_text): no control characters but tab,
# LF and CR; no lone surrogates. The shell- and UCI-significant ones are mixed
# in on purpose.
value_chars = st.characters(
    codec="utf-8",
    exclude_characters="".join(map(chr, [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])),
)
hostile = st.sampled_from(
    ["'", '"', "\\", "'\\''", "$(", ")", "`", ";", "#", "\n", "\r\n", "\t", " "]
)
values = st.lists(st.one_of(st.text(value_chars, max_size=8), hostile), max_size=6).map("".join)
option_values = st.one_of(values.filter(bool), st.lists(values, min_size=1, max_size=4))


@st.composite
def packages(draw: st.DrawFn) -> Package:
    sections = []
    used: set[str] = set()
    for _ in range(draw(st.integers(0, 5))):
        name = draw(st.one_of(st.none(), names.filter(lambda n: n not in used)))
        if name is not None:
            used.add(name)
        options = draw(st.dictionaries(names, option_values, max_size=6))
        sections.append(Section(draw(types), name, options))
    return Package(draw(package_names), sections)


@SETTINGS
@given(packages())
def test_emit_then_parse_is_identity(pkg: Package) -> None:
    text = emit(pkg)
    assert parse(text, package=pkg.name) == pkg
    assert export(pkg) == f"package {pkg.name}\n{text}"


# UCI-like text: keywords, names, quotes, escapes, comments and separators glued
# at random, so that many texts parse and the odd corners are reached.
TOKENS = [
    "config", "option", "list", "package", "c", "o", "l", "iface", "lan", "wifi-iface",
    "proto", "x", "'", '"', "\\", "#", ";", " ", " ", "\t", "\n", "\n", "\r\n", "\r",
    "a b", "'a b'", '"c\\"d"', "'\\''", "''", "la-n", "é", "\v", "cfg01a57d", "$(x)", "\x01",
]  # fmt: skip
uci_like = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=40).map("".join),
    st.lists(
        st.tuples(
            st.sampled_from(["config", "option", "list", "option", "# c", ""]),
            st.lists(st.one_of(names, values.map(lambda v: "'" + v.replace("'", "'\\''") + "'"))),
            st.sampled_from(["", "", " # x", ";", "\r", "\\"]),
        ).map(lambda t: " ".join([t[0], *t[1]]) + t[2]),
        max_size=8,
    ).map(lambda lines: "config t 'n'\n" + "\n".join(lines) + "\n"),
)


def libuci_can_write_back(pkg: Package) -> bool:
    try:
        for s in pkg.sections:
            validate_type(s.type)
            for value in s.options.values():
                for item in [value] if isinstance(value, str) else value:
                    validate_value(item)
    except ValueError:
        return False
    return True


@SETTINGS
@given(uci_like)
@example("config t 'n'\n\toption a 'x\x01'\n")
@example("config \"a'b\" 'n'\n")
def test_parse_emit_parse_is_stable(text: str) -> None:
    try:
        pkg = parse(text, package="network")
    except UciError:
        return
    if libuci_can_write_back(pkg):
        assert parse(emit(pkg), package="network") == pkg
    else:
        with pytest.raises(ValueError, match=r"section type|cannot be stored"):
            emit(pkg)


@SETTINGS
@given(st.one_of(st.text(), uci_like))
def test_parse_raises_only_uci_error(text: str) -> None:
    try:
        parse(text, package="network", source="fuzz")
    except UciError as err:
        assert err.source == "fuzz"
        assert 0 <= err.line <= text.count("\n") + 1
        assert err.what


@SETTINGS
@given(values, values, st.sampled_from([*map(chr, [*range(9), 11, 12, *range(14, 32)]), "\ud83d"]))
def test_emit_refuses_control_characters(before: str, after: str, bad: str) -> None:
    pkg = Package("network", [Section("t", "s", {"ok": "x", "v": [before + bad + after]})])
    refusal = r"option s\.v: character U\+[0-9A-F]{4} .*cannot be stored"
    with pytest.raises(ValueError, match=refusal):
        emit(pkg)
