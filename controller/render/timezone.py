"""OpenWrt wants a POSIX TZ string (`EAT-3`) beside the IANA zone name.

The TZif files behind Python's zoneinfo end with exactly that string (RFC
8536 footer), so it is read from the zone database, never kept in a table.
"""

from __future__ import annotations

import zoneinfo
from functools import cache
from importlib import resources
from pathlib import Path


def _tzif_bytes(name: str) -> bytes:
    for base in zoneinfo.TZPATH:
        candidate = Path(base) / name
        if candidate.is_file():
            return candidate.read_bytes()
    package, _, leaf = f"tzdata.zoneinfo.{name.replace('/', '.')}".rpartition(".")
    return resources.files(package).joinpath(leaf).read_bytes()


@cache
def posix_tz(name: str) -> str:
    """The POSIX TZ string of IANA zone `name`, e.g. 'EAT-3' for Africa/Nairobi."""
    data = _tzif_bytes(name)
    if not data.startswith(b"TZif") or data[4:5] < b"2":
        return "UTC0"
    footer = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return footer.decode("ascii") or "UTC0"


def zonename(name: str) -> str:
    """OpenWrt/LuCI write zone names with spaces: 'America/Sao Paulo'."""
    return name.replace("_", " ")
