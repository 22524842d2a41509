"""A lab router's UCI packages, read from its /etc/config as libuci would."""

from __future__ import annotations

from pathlib import Path

from controller.uci import Package, parse

CONFIG = Path("/etc/config")


def read_package(name: str) -> Package | None:
    """The parsed package, None when the file does not exist; UciError when libuci would
    reject it."""
    path = CONFIG / name
    if not path.exists():
        return None
    return parse(path.read_text(encoding="utf-8"), package=name, source=str(path))
