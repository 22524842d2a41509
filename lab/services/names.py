"""DNS names and addresses as the lab services compare them.

Names are lower case without a trailing dot (`.` is the root). A rule for a
name covers the name and every name under it; the most specific rule wins.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import TypeAlias

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")

# What OONI counts as a bogon answer; 198.18.0.0/15 is the lab's internet, so not here.
BOGONS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fc00::/7", "fe80::/10",
    )
)  # fmt: skip


def normalize_name(text: str) -> str:
    """`text` as names are compared: lower case, no trailing dot."""
    name = text.lower()
    return name[:-1] if name.endswith(".") and name != "." else name


def is_dns_name(name: str, *, wildcard_ok: bool = False) -> bool:
    """Whether normalized `name` is a host name (`*.` first when `wildcard_ok`)."""
    labels = name.split(".")
    if wildcard_ok and labels[0] == "*":
        labels = labels[1:]
    return bool(name) and len(name) <= 253 and all(LABEL.fullmatch(label) for label in labels)


def covers(rule_name: str, name: str) -> bool:
    """Whether a rule for `rule_name` applies to `name` (the name itself or under it)."""
    return rule_name in (".", name) or name.endswith("." + rule_name)


def most_specific(rules: Mapping[str, object], name: str) -> str | None:
    """The key of `rules` that covers `name` with the most labels, if any."""
    matches = [rule for rule in rules if covers(rule, name)]
    return max(matches, key=lambda r: (r != ".", r.count("."), len(r)), default=None)


def is_bogon(address: IPAddress) -> bool:
    return any(address.version == net.version and address in net for net in BOGONS)


def endpoint(address: IPAddress, port: int) -> str:
    """`address:port`, the IPv6 address in brackets."""
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
