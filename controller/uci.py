"""UCI codec: /etc/config/<package> files, read and written exactly as libuci does.

One document model (Package → Section → options), a strict parser and an emitter.

`parse` is a port of libuci's file parser (openwrt/uci file.c @ 66127cd) with its
quirks, because the router reads our files with libuci, not with us: quotes glue
(`'a'\\''b'`), `#` ends a line even glued to a value, `;` separates commands,
a backslash escapes inside double quotes and unquoted and joins lines at the
end of one, quoted values span lines, `option x ''` and value-less options are
no-ops, `list x ''` keeps an empty item, a named section declared twice is
merged. What libuci rejects raises UciError with the line; `what` starts with
libuci's own reason. Two deliberate differences: a NUL character is rejected
(libuci's fgets/strlen mangle the line instead), and an error on a last line
without a newline reports that line (libuci's counter lags by one there).

`emit` writes the bytes `uci commit` writes, `export` what `uci export` prints
(uci_export_package in file.c). The emitter refuses, with ValueError, any model
libuci would not read back as the same model; pydantic validators can call the
`validate_*` functions to refuse the same things earlier, at the inventory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NoReturn, TypeAlias

from controller.uci_lexer import MAX_SHOWN as _MAX_SHOWN
from controller.uci_lexer import Lexer

__all__ = [
    "OptionValue",
    "Package",
    "Section",
    "emit",
    "export",
    "parse",
    "validate_name",
    "validate_package_name",
    "validate_type",
    "validate_value",
]

OptionValue: TypeAlias = str | list[str]


@dataclass(slots=True)
class Section:
    """`config TYPE ['NAME']`; name None is an anonymous section."""

    type: str
    name: str | None = None
    options: dict[str, OptionValue] = field(default_factory=dict)

    def get(self, option: str, default: OptionValue | None = None) -> OptionValue | None:
        """The option's value (a list for `list` options), or `default`."""
        return self.options.get(option, default)


@dataclass(slots=True)
class Package:
    """One /etc/config/<name> file: its sections in file order."""

    name: str
    sections: list[Section] = field(default_factory=list)

    def section(self, name: str) -> Section | None:
        """The named section `name`, or None."""
        return next((s for s in self.sections if s.name == name), None)


# uci_validate_str() in util.c: names are [A-Za-z0-9_], package names may also
# hold '-', types any printable ASCII but space.
_NAME = re.compile(r"[A-Za-z0-9_]+")
_PACKAGE = re.compile(r"[A-Za-z0-9_-]+")
_TYPE = re.compile(r"[!-~]+")
# Written unquoted by uci_export, so a type holding one of these reads back as
# something else (libuci would write it anyway): the emitter refuses them.
_TYPE_UNSAFE = re.compile(r"['\"#;\\]")
# uci_validate_text() in util.c (what `uci set` accepts), plus lone surrogates,
# which cannot be written as UTF-8.
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_ANONYMOUS = re.compile(r"cfg[0-9a-f]{6,}")


def validate_name(name: str, what: str = "name") -> None:
    """Refuse a section or option name libuci rejects (only A-Z a-z 0-9 _)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{what} {name[:_MAX_SHOWN]!r}: UCI names use only A-Z, a-z, 0-9 and _")


def validate_package_name(name: str) -> None:
    """Refuse a package (file) name libuci rejects (A-Z a-z 0-9 _ -)."""
    if not _PACKAGE.fullmatch(name):
        raise ValueError(f"package name {name[:_MAX_SHOWN]!r}: use only A-Z, a-z, 0-9, _ and -")


def validate_type(type_: str) -> None:
    """Refuse a section type that would not read back as itself."""
    if not _TYPE.fullmatch(type_) or _TYPE_UNSAFE.search(type_):
        raise ValueError(
            f"section type {type_[:_MAX_SHOWN]!r}: use printable ASCII without"
            " spaces, quotes, backslash, '#' or ';'"
        )


def validate_value(value: str, where: str = "value") -> None:
    """Refuse a value libuci cannot hold: control characters other than tab, LF, CR."""
    bad = _BAD_TEXT.search(value)
    if bad:  # the value itself is not shown: it may be a secret
        raise ValueError(
            f"{where}: character U+{ord(bad.group()):04X} at offset {bad.start()}"
            " cannot be stored in UCI (only tab, LF and CR among control characters)"
        )


def _anonymous_name(index: int, type_: str) -> str:
    """The name libuci gives the index-th (1-based) section if anonymous (uci_fixup_section)."""
    digest = 5381
    for c in type_.encode():
        digest = (digest * 33 + c) & 0xFFFFFFFF
    return f"cfg{index:02x}{(digest & 0x7FFFFFFF) % 0x10000:04x}"


# ---------------------------------------------------------------- emitter


def emit(pkg: Package) -> str:
    """The text `uci commit` writes to /etc/config/<pkg.name>."""
    validate_package_name(pkg.name)
    _check_section_names(pkg.sections)
    out: list[str] = []
    add = out.append
    for s in pkg.sections:
        if not _TYPE.fullmatch(s.type) or _TYPE_UNSAFE.search(s.type):
            validate_type(s.type)
        if s.name is None:
            add(f"\nconfig {s.type}\n")
        else:
            add(f"\nconfig {s.type} '{s.name}'\n")
        for key, value in s.options.items():
            if not _NAME.fullmatch(key):
                validate_name(key, f"option name in {_where(s)}")
            if isinstance(value, str):
                if not value:
                    raise ValueError(f"option {_where(s)}.{key} is empty: leave it out")
                add(f"\toption {key} '{value.replace(_Q, _Q_ESCAPED)}'\n")
            elif value:
                for item in value:
                    add(f"\tlist {key} '{item.replace(_Q, _Q_ESCAPED)}'\n")
            else:
                raise ValueError(f"list {_where(s)}.{key} has no items: leave it out")
    add("\n")
    text = "".join(out)
    if _BAD_TEXT.search(text):
        _explain_bad_text(pkg)
    return text


def export(pkg: Package) -> str:
    """The text `uci export <pkg.name>` prints."""
    return f"package {pkg.name}\n{emit(pkg)}"


_Q = "'"
_Q_ESCAPED = "'\\''"


def _where(s: Section) -> str:
    return s.name if s.name is not None else f"(anonymous {s.type})"


def _check_section_names(sections: list[Section]) -> None:
    """Refuse sections libuci would merge when it reads the file back."""
    seen: set[str] = set()
    for s in sections:
        if s.name is not None:
            validate_name(s.name, "section name")
            if s.name in seen:
                raise ValueError(f"section name {s.name!r} is used twice")
            seen.add(s.name)
    if not any(_ANONYMOUS.fullmatch(name) for name in seen):
        return
    generated: set[str] = set()
    for index, s in enumerate(sections, 1):
        if s.name is None:
            generated.add(_anonymous_name(index, s.type))
        elif s.name in generated:
            raise ValueError(
                f"section name {s.name!r} is the name libuci gives an anonymous section"
                " before it, so libuci would merge the two: rename it"
            )


def _explain_bad_text(pkg: Package) -> NoReturn:
    for s in pkg.sections:
        for key, value in s.options.items():
            for item in [value] if isinstance(value, str) else value:
                validate_value(item, f"option {_where(s)}.{key}")
    raise AssertionError("unreachable: names and types were validated")  # pragma: no cover


# ---------------------------------------------------------------- parser


def parse(text: str, *, package: str, source: str = "<string>") -> Package:
    """Read /etc/config/<package> as libuci does (`uci export package`)."""
    validate_package_name(package)
    lex = Lexer(text, source)
    doc = _Builder()
    while lex.next_line():  # uci_import()
        simple = _SIMPLE_LINE.fullmatch(lex.buf)
        if simple is None or not doc.simple_line(lex, simple):
            doc.statements(lex)
    return Package(package, doc.sections)


# Most lines are `option NAME 'VALUE'` and the like: this regex takes them in one
# step. It matches only lines that the full lexer would read the same way; the
# rest (and every error, so that there is one wording) go through the lexer.
_ARG = r"""(?:'([^'\n]*)'|([^ \t\n\v\f\r'"#;\\]+))"""
_SIMPLE_LINE = re.compile(
    rf"[ \t\v\f\r]*(?:(config|option|list)[ \t][ \t\v\f\r]*{_ARG}"
    rf"(?:[ \t\v\f\r]+{_ARG})?[ \t\v\f\r]*|#[^\n]*)?\n?"
)


class _Builder:
    """The package being read: uci_parse_line() and the commands it runs."""

    __slots__ = ("by_name", "current", "sections")

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.by_name: dict[str, Section] = {}  # anonymous ones under their generated name
        self.current: Section | None = None

    def simple_line(self, lex: Lexer, line: re.Match[str]) -> bool:
        """Apply a line _SIMPLE_LINE matched; False if it needs the full lexer."""
        command, quoted1, bare1, quoted2, bare2 = line.groups()
        if command is None:  # blank or comment
            return True
        first = bare1 if quoted1 is None else quoted1
        second = (bare2 or "") if quoted2 is None else quoted2
        if command == "config":
            if not _TYPE.fullmatch(first) or (second and not _NAME.fullmatch(second)):
                return False
            self.open_section(lex, first, second)
        elif self.current is None or not _NAME.fullmatch(first):
            return False
        else:
            self.set_option(self.current, first, second, is_list=command == "list")
        return True

    def statements(self, lex: Lexer) -> None:
        """uci_parse_line(): the commands of one line, separated by ';'."""
        lex.skip_space()
        while (word := lex.command()) is not None:
            if word in ("package", "p"):  # ignored when loading a file (single mode)
                lex.skip_command("package")
                lex.arg(required=True, name=_PACKAGE)
                lex.end_of_command()
            elif word in ("config", "c"):
                lex.skip_command("config")
                type_ = lex.arg(required=True)
                if not _TYPE.fullmatch(type_):
                    lex.error(f"invalid character in type field: {type_[:_MAX_SHOWN]!r}")
                name = lex.arg(name=_NAME)
                lex.end_of_command()
                self.open_section(lex, type_, name)
            elif word in ("option", "o", "list", "l"):
                if self.current is None:
                    lex.error("option/list command found before the first section")
                lex.skip_command("option")
                name = lex.arg(required=True, name=_NAME)
                value = lex.arg()
                lex.end_of_command()
                self.set_option(self.current, name, value, is_list=word[0] == "l")
            else:
                lex.error("invalid command — a line starts with package, config, option or list")

    def open_section(self, lex: Lexer, type_: str, name: str) -> None:
        """uci_parse_config(): a named section declared again is reopened."""
        if name:
            section = self.by_name.get(name)
            if section is not None:
                if section.type != type_:
                    lex.error("section of different type overwrites prior section with same name")
                self.current = section
                return
        section = Section(type_, name or None)
        self.sections.append(section)
        self.by_name.setdefault(name or _anonymous_name(len(self.sections), type_), section)
        self.current = section

    @staticmethod
    def set_option(section: Section, name: str, value: str, *, is_list: bool) -> None:
        """uci_parse_option(): uci_set() or uci_add_list() on the current section."""
        options = section.options
        old = options.get(name)
        if not is_list:
            if value:  # uci_set() with an empty value is a no-op here
                options[name] = value  # an existing option keeps its place
        elif old is None:
            options[name] = [value]
        elif isinstance(old, list):
            old.append(value)
        else:
            options[name] = [old, value]
