"""IPv4 default routes from /proc/net/route: each uplink's first hop when DHCP chose it.

A static uplink's gateway is in agent.json; a DHCP or PPPoE one is whatever
the lease said, so the agent reads it where the kernel keeps it. The file's
addresses are little-endian hex (the kernel prints the raw u32).
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

ROUTE_FILE = Path("/proc/net/route")
RTF_GATEWAY = 0x2


def parse_default_gateways(text: str) -> dict[str, str]:
    """Device -> gateway of each default route (the lowest metric per device)."""
    best: dict[str, tuple[int, str]] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 7:
            continue
        device, destination, gateway, flags, metric = (
            fields[0],
            fields[1],
            fields[2],
            fields[3],
            fields[6],
        )
        try:
            if int(destination, 16) != 0 or not int(flags, 16) & RTF_GATEWAY:
                continue
            address = str(ipaddress.IPv4Address(struct.pack("<I", int(gateway, 16))))
            rank = int(metric)
        except ValueError:
            continue
        if device not in best or rank < best[device][0]:
            best[device] = (rank, address)
    return {device: address for device, (_, address) in best.items()}


def default_gateways(path: Path = ROUTE_FILE) -> dict[str, str]:
    try:
        return parse_default_gateways(path.read_text(encoding="ascii", errors="replace"))
    except OSError:
        return {}
