"""`meshkeeper diff`: what a push would change, by package, section and option.

The router's files are read over SSH and parsed with the same UCI codec;
sections are matched by name (anonymous ones by type and position, as
`uci show` names them @type[i]). Options that hold secrets show only that
they changed. Drift from hand edits on the router shows up here.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field

from controller.errors import UciError
from controller.render.tree import RenderedFile
from controller.uci import Package, Section, parse

SECRET_OPTIONS = frozenset({"key", "password", "sae_password", "auth_secret", "priv_key"})


@dataclass
class NodeDiff:
    node: str
    lines: list[tuple[str, str]] = field(default_factory=list)  # (kind: + - ~ !, text)

    @property
    def in_sync(self) -> bool:
        return not self.lines


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


def diff_node(node: str, rendered: list[RenderedFile], router: dict[str, bytes]) -> NodeDiff:
    result = NodeDiff(node)
    for file in sorted(rendered, key=lambda f: f.path):
        have = router.get(file.path)
        name = file.path.rsplit("/", 1)[-1]
        if have == file.data:
            continue
        if have is None:
            result.lines.append(("+", f"{file.path}: missing on the router"))
        elif file.path.startswith("etc/config/"):
            result.lines += _uci_diff(name, have, file.data)
        elif file.path.endswith(".json"):
            result.lines += _json_diff(file.path, have, file.data)
        elif file.path.endswith("authorized_keys"):
            old = {line for line in have.decode("utf-8", "replace").splitlines() if line.strip()}
            new = {line for line in file.data.decode().splitlines() if line.strip()}
            result.lines.append(
                ("~", f"{file.path}: {len(new - old)} key(s) to add, {len(old - new)} to remove")
            )
        else:
            result.lines.append(("~", f"{file.path}: differs"))
    return result


def _key(section: Section, index: int) -> str:
    return f"{section.type} '{section.name}'" if section.name else f"@{section.type}[{index}]"


def _sections(pkg: Package) -> dict[str, Section]:
    counts: dict[str, int] = {}
    out = {}
    for section in pkg.sections:
        index = counts.get(section.type, 0)
        counts[section.type] = index + 1
        out[_key(section, index)] = section
    return out


def _show(option: str, value: str | list[str] | None) -> str:
    if value is None:
        return "(unset)"
    if option in SECRET_OPTIONS:
        return "<secret>"
    return repr(value) if isinstance(value, str) else "[" + ", ".join(map(repr, value)) + "]"


def _uci_diff(package: str, have: bytes, want: bytes) -> list[tuple[str, str]]:
    try:
        old = parse(
            have.decode("utf-8", "replace"), package=package, source=f"router:/etc/config/{package}"
        )
    except UciError as exc:
        return [
            (
                "!",
                f"{package}: the router's file is not valid UCI ({exc.what}, line "
                f"{exc.line}); a push replaces it",
            )
        ]
    new = parse(want.decode("utf-8"), package=package, source=package)
    before, after = _sections(old), _sections(new)
    lines: list[tuple[str, str]] = []
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
            if option in SECRET_OPTIONS:
                lines.append(("~", f"{package}: {key}.{option}: <secret changed>"))
            else:
                lines.append(
                    ("~", f"{package}: {key}.{option}: {_show(option, a)} → {_show(option, b)}")
                )
    return lines


def _json_diff(path: str, have: bytes, want: bytes) -> list[tuple[str, str]]:
    try:
        old = json.loads(have)
    except ValueError:
        return [("!", f"{path}: the router's copy is not JSON; a push replaces it")]
    new = json.loads(want)
    lines: list[tuple[str, str]] = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            lines.append(("~", f"{path}: {key} changed"))
    return lines
