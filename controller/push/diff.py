"""`meshkeeper diff`: what a push would change, by package, section and option.

The router's files are read over SSH and parsed with the same UCI codec;
sections are matched by name (anonymous ones by type and position, as
`uci show` names them @type[i]). Options that hold secrets show only that
they changed. Drift from hand edits on the router shows up here.

Whether a router differs at all is `plan.differences` (sha256 of every file,
the applied record, a pending confirmation): the same test push uses, so a
comment-only hand edit is a difference here too ("bytes differ: comments/
formatting only"). This module only says how each difference reads.

A router's files are read as hostile: any size (what is larger than
MAX_COMPARED is not parsed), any shape (a JSON file that is `[]`), any
bytes (escaped before they are shown). A parse error never quotes the
router's line: a file like wireless holds secrets, and the line that
failed to parse may be the one with the key.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controller.errors import UciError
from controller.push.plan import Difference
from controller.push.report import shown
from controller.render.tree import RenderedFile
from controller.uci import OptionValue, Package, Section, parse

if TYPE_CHECKING:
    from controller.push.node import RouterView

SECRET_OPTIONS = frozenset({"key", "password", "sae_password", "auth_secret", "priv_key"})
# Also secret, whatever the renderer writes: WEP's key1..key4, wpa_passphrase, psk,
# private_key, preshared_key, a hand-added *_secret or *password on the router.
_SECRET_NAME = re.compile(r"key|pass|secret|psk|priv", re.IGNORECASE)
MAX_COMPARED = 1024 * 1024  # bytes of one router file that are parsed (remote.fetch's limit)
MAX_LINES = 40  # lines about one file: a hostile file must not flood the terminal
_VALUE = 60  # characters of one shown value

# libuci's reasons (controller/uci.py), without what they quote from the line
_UCI_REASONS = (
    "NUL character",
    "without name",
    "insufficient arguments",
    "invalid character in name field",
    "too many arguments",
    "EOF with unterminated",
    "invalid character in type field",
    "option/list command found before the first section",
    "invalid command",
    "section of different type overwrites prior section with same name",
)

Line = tuple[str, str]  # (kind: + - ~ !, text)


@dataclass
class NodeDiff:
    node: str
    lines: list[Line] = field(default_factory=list)
    generation: int = 0  # what the router's applied record says

    @property
    def in_sync(self) -> bool:
        return not self.lines


def is_secret(option: str) -> bool:
    return option in SECRET_OPTIONS or _SECRET_NAME.search(option) is not None


def unpack(archive: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if not archive:
        return out
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            if handle is not None:
                out[member.name.lstrip("./")] = handle.read()
    return out


def node_diff(
    node: str,
    rendered: list[RenderedFile],
    router: dict[str, bytes],
    found: list[Difference],
    view: RouterView,
) -> NodeDiff:
    """What a push would change on this router: a line (at least) for every
    difference `plan.differences` found, none when it found none."""
    result = NodeDiff(node, generation=view.generation)
    if any(d.kind == "unconfirmed" for d in found):
        result.lines.append(
            (
                "!",
                "a push is still unconfirmed on the router (it restores its previous config "
                "by itself when its timer runs out); a push replaces it",
            )
        )
    differing = {d.path for d in found if d.kind in ("missing", "bytes")}
    for file in sorted(rendered, key=lambda f: f.path):
        if file.path in differing:
            result.lines += _changed_file(file, router.get(file.path), view)
    result.lines += [
        ("~", f"{shown(d.path or '', _VALUE)}: on the router, no longer rendered")
        for d in found
        if d.kind == "unexpected"
    ]
    if any(d.kind == "record" for d in found) and not result.lines:
        result.lines.append(
            (
                "~",
                "etc/meshkeeper/applied.json: no record of a meshkeeper push (never pushed, or "
                "unreadable); a push writes it"
                if view.tree_hash is None
                else "etc/meshkeeper/applied.json: records another render (file modes, or "
                "files no longer managed); a push rewrites it",
            )
        )
    return result


def _changed_file(file: RenderedFile, have: bytes | None, view: RouterView) -> list[Line]:
    if have is None and file.path in view.sums:
        return [
            (
                "!",
                f"{file.path}: differs; the router's copy is larger than "
                f"{MAX_COMPARED // 1024} KiB or unreadable, so it was not compared; "
                "a push replaces it",
            )
        ]
    return file_diff(file, have) or [("~", f"{file.path}: bytes differ: comments/formatting only")]


def diff_node(node: str, rendered: list[RenderedFile], router: dict[str, bytes]) -> NodeDiff:
    """The meaning that differs between the render and the router's files (bytes that
    differ without a change of meaning give no line here: see node_diff)."""
    result = NodeDiff(node)
    for file in sorted(rendered, key=lambda f: f.path):
        result.lines += file_diff(file, router.get(file.path))
    return result


def file_diff(file: RenderedFile, have: bytes | None) -> list[Line]:
    """The lines about one file; whatever the router's copy holds, at most MAX_LINES,
    never a secret and never an exception."""
    if have == file.data:
        return []
    if have is None:
        return [("+", f"{file.path}: missing on the router")]
    if len(have) > MAX_COMPARED:
        return [
            (
                "!",
                f"{file.path}: the router's copy is {len(have)} bytes, too large to compare; "
                "a push replaces it",
            )
        ]
    try:
        lines = _by_kind(file, have)
    except Exception as exc:  # noqa: BLE001 - one file a router holds is that file's one line
        # the type alone: an exception's text may quote the file, which may hold a key
        return [
            (
                "!",
                f"{file.path}: the router's copy could not be compared "
                f"({type(exc).__name__}); a push replaces it",
            )
        ]
    if len(lines) > MAX_LINES:
        more = len(lines) - MAX_LINES + 1
        lines = [*lines[: MAX_LINES - 1], ("~", f"{file.path}: and {more} more differences")]
    return lines


def _by_kind(file: RenderedFile, have: bytes) -> list[Line]:
    if file.path.startswith("etc/config/"):
        return _uci_diff(file.path.rsplit("/", 1)[-1], have, file.data)
    if file.path.endswith(".json"):
        return _json_diff(file.path, have, file.data)
    if file.path.endswith("authorized_keys"):
        old = {line for line in have.decode("utf-8", "replace").splitlines() if line.strip()}
        new = {line for line in file.data.decode().splitlines() if line.strip()}
        return [("~", f"{file.path}: {len(new - old)} key(s) to add, {len(old - new)} to remove")]
    return [("~", f"{file.path}: differs")]


def _key(section: Section, index: int) -> str:
    name = f"{section.type} '{section.name}'" if section.name else f"@{section.type}[{index}]"
    return shown(name, _VALUE)


def _sections(pkg: Package) -> dict[str, Section]:
    counts: dict[str, int] = {}
    out = {}
    for section in pkg.sections:
        index = counts.get(section.type, 0)
        counts[section.type] = index + 1
        out[_key(section, index)] = section
    return out


def _show(option: str, value: OptionValue | None) -> str:
    if value is None:
        return "(unset)"
    if is_secret(option):
        return "<secret>"
    text = repr(value) if isinstance(value, str) else "[" + ", ".join(map(repr, value)) + "]"
    return shown(text, _VALUE)


def uci_reason(error: UciError) -> str:
    """libuci's reason for refusing a file, in our words only: never what the line held."""
    return next((r for r in _UCI_REASONS if r in error.what), "not valid UCI")


def _uci_diff(package: str, have: bytes, want: bytes) -> list[Line]:
    try:
        old = parse(
            have.decode("utf-8", "replace"), package=package, source=f"router:/etc/config/{package}"
        )
    except UciError as exc:
        return [
            (
                "!",
                f"{package}: the router's file is not valid UCI ({uci_reason(exc)}, line "
                f"{exc.line}); a push replaces it",
            )
        ]
    new = parse(want.decode("utf-8"), package=package, source=package)
    before, after = _sections(old), _sections(new)
    lines: list[Line] = []
    for key in after:
        if key not in before:
            lines.append(("+", f"{package}: {key}"))
    for key in before:
        if key not in after:
            lines.append(("-", f"{package}: {key}"))
    for key, section in after.items():
        if key not in before:
            continue
        was = before[key].options
        for option in sorted(set(was) | set(section.options)):
            a, b = was.get(option), section.options.get(option)
            if a == b:
                continue
            if is_secret(option):
                lines.append(("~", f"{package}: {key}.{option}: <secret changed>"))
            else:
                lines.append(
                    ("~", f"{package}: {key}.{option}: {_show(option, a)} → {_show(option, b)}")
                )
    return lines


def _json_diff(path: str, have: bytes, want: bytes) -> list[Line]:
    try:
        old = json.loads(have)
    except (ValueError, RecursionError):
        return [("!", f"{path}: the router's copy is not JSON; a push replaces it")]
    if not isinstance(old, dict):
        return [("!", f"{path}: the router's copy is not a JSON object; a push replaces it")]
    new = json.loads(want)
    lines: list[Line] = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            lines.append(("~", f"{path}: {shown(key, _VALUE)} changed"))
    return lines
