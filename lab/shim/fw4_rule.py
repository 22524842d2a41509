"""One UCI firewall rule → the match part of the nft rules fw4 makes of it.

fw4's parse_rule and templates/rule.uc (openwrt/firewall4) for the subset the
lab emulates: proto, dest_port, family, src_ip, ICMP types and codes
(fw4_icmp.py) and limit. A rule is split per address family where its
addresses or ICMP types say which, and whole ICMP types apart from type/code
pairs; anything else raises ValueError naming the section.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence

from controller.uci import OptionValue, Section
from lab.shim.fw4_icmp import icmp_type, is_whole

_FAMILIES = {"any": 0, "all": 0, "*": 0, "ipv4": 4, "ipv6": 6}
_PROTOCOLS = {
    "tcp": ("tcp",),
    "udp": ("udp",),
    "tcpudp": ("tcp", "udp"),
    "icmp": ("icmp",),
    "all": ("all",),
    "any": ("all",),
    "*": ("all",),
}
_ANY_ICMP = {  # fw4's l4proto(): ICMP of the rule's family, both when it has none
    0: "meta l4proto { icmp, ipv6-icmp } ",
    4: "meta l4proto icmp ",
    6: "meta l4proto ipv6-icmp ",
}
_PORT = re.compile(r"([0-9]{1,5})(?:[-:]([0-9]{1,5}))?")
_LIMIT = re.compile(r"([0-9]+)(?:/([a-z]+))?")
_UNITS = ("second", "minute", "hour", "day")  # fw4's parse_limit: any prefix of one
_NFPROTO = {4: "ipv4", 6: "ipv6"}


def rule_matches(where: str, s: Section) -> Iterator[str]:
    """The match part of each nft rule one UCI rule becomes (fw4's parse_rule, rule.uc)."""
    family = _family(where, s)
    ports = _ports(where, s)
    sources = _sources(where, s)
    limit = _limit(where, s)
    for proto in _protocols(where, s):
        types = _icmp_types(where, s) if proto == "icmp" else {4: [], 6: []}
        for match in _proto_matches(where, proto, family, ports, sources, types):
            yield match + limit


def _proto_matches(
    where: str,
    proto: str,
    family: int | None,
    ports: str,
    sources: dict[int, list[str]],
    types: dict[int, list[tuple[int, int, int]]],
) -> list[str]:
    """One family-agnostic rule, or one or two per family (fw4 splits by address
    family, and whole ICMP types from type/code pairs)."""
    specific = {f: bool(sources[f] or types[f]) for f in (4, 6)}
    if family is None:  # unset: what the addresses and ICMP types allow
        family = (
            4 if specific[4] and not specific[6] else 6 if specific[6] and not specific[4] else 0
        )
    if not family and not any(specific.values()):
        return [_agnostic(proto, ports)]
    families = [f for f in (4, 6) if family in (0, f)]
    if proto == "icmp" and types[4] + types[6] and not any(types[f] for f in families):
        raise ValueError(f"{where}: no ICMP type of the rule exists in {_NFPROTO[family]}")
    return [m for f in families for m in _family_matches(f, proto, ports, sources[f], types[f])]


def _agnostic(proto: str, ports: str) -> str:
    if proto in ("tcp", "udp"):
        return f"{proto} dport {ports} " if ports else f"meta l4proto {proto} "
    return "" if proto == "all" else _ANY_ICMP[0]


def _family_matches(
    family: int, proto: str, ports: str, sources: list[str], types: list[tuple[int, int, int]]
) -> list[str]:
    # rule.uc's order: nfproto (implied by an address match), l4proto, saddr, dport, icmp
    head = "" if sources else f"meta nfproto {_NFPROTO[family]} "
    saddr = f"{'ip' if family == 4 else 'ip6'} saddr {nft_set(sources)} " if sources else ""
    if proto in ("tcp", "udp"):
        return [
            head + (f"{saddr}{proto} dport {ports} " if ports else f"meta l4proto {proto} {saddr}")
        ]
    if proto == "all":
        return [head + saddr]
    keyword = "icmp" if family == 4 else "icmpv6"
    whole = list(dict.fromkeys(str(t[0]) for t in types if is_whole(t)))
    codes = list(dict.fromkeys(f"{t[0]} . {t[1]}" for t in types if not is_whole(t)))
    out = []
    if whole or not codes:
        match = f"{keyword} type {nft_set(whole)} " if whole else _ANY_ICMP[family]
        out.append(head + (saddr + match if whole else match + saddr))
    if codes:
        out.append(f"{head}{saddr}{keyword} type . {keyword} code {nft_set(codes)} ")
    return out


def _family(where: str, s: Section) -> int | None:
    text = option(s, "family")
    if text is None:
        return None
    if text not in _FAMILIES:
        raise ValueError(f"{where}: family {text!r} is not ipv4, ipv6 or any")
    return _FAMILIES[text]


def _icmp_types(where: str, s: Section) -> dict[int, list[tuple[int, int, int]]]:
    out: dict[int, list[tuple[int, int, int]]] = {4: [], 6: []}
    for word in words(s.options.get("icmp_type")):
        found = icmp_type(word)
        if found is None:
            raise ValueError(f"{where}: ICMP type {word!r} is not emulated in the lab")
        for family, value in found.items():
            out[family].append(value)
    return out


def _sources(where: str, s: Section) -> dict[int, list[str]]:
    """src_ip by address family, as fw4.cidr() writes them (a host without its /32)."""
    out: dict[int, list[str]] = {4: [], 6: []}
    for word in words(s.options.get("src_ip")):
        try:
            net = ipaddress.ip_network(word, strict=False)
        except ValueError:  # `!net` and network names: fw4 knows them, the lab does not
            raise ValueError(f"{where}: src_ip {word!r} is not emulated in the lab") from None
        host = net.prefixlen == net.max_prefixlen
        out[net.version].append(str(net.network_address) if host else str(net))
    return out


def _limit(where: str, s: Section) -> str:
    text = option(s, "limit")
    if text is None:
        return ""
    found = _LIMIT.fullmatch(text)
    units = [u for u in _UNITS if found and u.startswith(found[2] or "second")]
    burst = option(s, "limit_burst")
    if not found or not units or (burst is not None and not burst.isdigit()):
        raise ValueError(f"{where}: limit {text!r} is not N/second, minute, hour or day")
    return f"limit rate {found[1]}/{units[0]} " + (f"burst {burst} packets " if burst else "")


def _nfproto(family: int) -> str:
    return f"meta nfproto {_NFPROTO[family]} " if family else ""


def _protocols(where: str, s: Section) -> list[str]:
    protocols: list[str] = []
    for word in words(s.options.get("proto")) or ["tcpudp"]:
        found = _PROTOCOLS.get(word.lower())
        if found is None:
            raise ValueError(f"{where}: protocol {word!r} is not emulated in the lab")
        protocols.extend(p for p in found if p not in protocols)
    return protocols


def _ports(where: str, s: Section) -> str:
    ports = []
    for word in words(s.options.get("dest_port")):
        m = _PORT.fullmatch(word)
        low, high = (int(m[1]), int(m[2] or m[1])) if m else (0, -1)
        if not m or low > high or high > 65535:
            raise ValueError(f"{where}: dest_port {word!r} is not a port or range a-b")
        ports.append(str(low) if low == high else f"{low}-{high}")
    return nft_set(ports) if ports else ""


def option(s: Section, name: str) -> str | None:
    value = s.options.get(name)
    return value if isinstance(value, str) or value is None else " ".join(value)


def words(value: OptionValue | None) -> list[str]:
    if value is None:
        return []
    return [w for item in ([value] if isinstance(value, str) else value) for w in item.split()]


def nft_set(items: Iterator[str] | Sequence[str]) -> str:
    """fw4.set(): one item bare, several in braces."""
    values = list(items)
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"
