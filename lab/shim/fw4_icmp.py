"""fw4's ICMP type names and numbers (openwrt/firewall4 ucode/fw4.uc, parse_icmptype).

A name or `TYPE[/CODE]` means, per address family, a type and a code range;
0-255 is the whole type. A name only one family knows is of that family only
(`bad-header` is ICMPv6, `source-quench` ICMPv4); a number is both.
"""

from __future__ import annotations

import re

WHOLE = (0, 0xFF)
_V4: dict[str, tuple[int, int, int]] = {
    "echo-reply": (0, *WHOLE),
    "pong": (0, *WHOLE),
    "destination-unreachable": (3, *WHOLE),
    "network-unreachable": (3, 0, 0),
    "host-unreachable": (3, 1, 1),
    "protocol-unreachable": (3, 2, 2),
    "port-unreachable": (3, 3, 3),
    "fragmentation-needed": (3, 4, 4),
    "source-route-failed": (3, 5, 5),
    "network-unknown": (3, 6, 6),
    "host-unknown": (3, 7, 7),
    "network-prohibited": (3, 9, 9),
    "host-prohibited": (3, 10, 10),
    "TOS-network-unreachable": (3, 11, 11),
    "TOS-host-unreachable": (3, 12, 12),
    "communication-prohibited": (3, 13, 13),
    "host-precedence-violation": (3, 14, 14),
    "precedence-cutoff": (3, 15, 15),
    "source-quench": (4, *WHOLE),
    "redirect": (5, *WHOLE),
    "network-redirect": (5, 0, 0),
    "host-redirect": (5, 1, 1),
    "TOS-network-redirect": (5, 2, 2),
    "TOS-host-redirect": (5, 3, 3),
    "echo-request": (8, *WHOLE),
    "ping": (8, *WHOLE),
    "router-advertisement": (9, *WHOLE),
    "router-solicitation": (10, *WHOLE),
    "time-exceeded": (11, *WHOLE),
    "ttl-exceeded": (11, *WHOLE),
    "ttl-zero-during-transit": (11, 0, 0),
    "ttl-zero-during-reassembly": (11, 1, 1),
    "parameter-problem": (12, *WHOLE),
    "ip-header-bad": (12, 0, 0),
    "required-option-missing": (12, 1, 1),
    "timestamp-request": (13, *WHOLE),
    "timestamp-reply": (14, *WHOLE),
    "address-mask-request": (17, *WHOLE),
    "address-mask-reply": (18, *WHOLE),
}
_V6: dict[str, tuple[int, int, int]] = {
    "destination-unreachable": (1, *WHOLE),
    "no-route": (1, 0, 0),
    "communication-prohibited": (1, 1, 1),
    "address-unreachable": (1, 3, 3),
    "port-unreachable": (1, 4, 4),
    "packet-too-big": (2, *WHOLE),
    "time-exceeded": (3, *WHOLE),
    "ttl-exceeded": (3, *WHOLE),
    "ttl-zero-during-transit": (3, 0, 0),
    "ttl-zero-during-reassembly": (3, 1, 1),
    "parameter-problem": (4, *WHOLE),
    "bad-header": (4, 0, 0),
    "unknown-header-type": (4, 1, 1),
    "unknown-option": (4, 2, 2),
    "echo-request": (128, *WHOLE),
    "ping": (128, *WHOLE),
    "echo-reply": (129, *WHOLE),
    "pong": (129, *WHOLE),
    "router-solicitation": (133, *WHOLE),
    "router-advertisement": (134, *WHOLE),
    "neighbour-solicitation": (135, *WHOLE),
    "neighbor-solicitation": (135, *WHOLE),
    "neighbour-advertisement": (136, *WHOLE),
    "neighbor-advertisement": (136, *WHOLE),
    "redirect": (137, *WHOLE),
}
_NUMBER = re.compile(r"([0-9]+)(?:/([0-9]+))?")


def icmp_type(value: str) -> dict[int, tuple[int, int, int]] | None:
    """Family (4, 6) → (type, lowest code, highest code); None if fw4 rejects `value`."""
    named = {family: table[value] for family, table in ((4, _V4), (6, _V6)) if value in table}
    if named:
        return named
    number = _NUMBER.fullmatch(value)
    if number is None:
        return None
    kind = int(number[1])
    low, high = (int(number[2]), int(number[2])) if number[2] else WHOLE
    if kind > 0xFF or low > 0xFF:
        return None
    return {4: (kind, low, high), 6: (kind, low, high)}


def is_whole(found: tuple[int, int, int]) -> bool:
    return found[1:] == WHOLE
