"""An `nft -f` script from /etc/config/firewall: fw4's ruleset for the subset we render.

The chains are fw4's (openwrt/firewall4 @ b6e5157, templates/ruleset.uc and
ucode/fw4.uc), so a lab router decides as a 22.03+ router does; fw3 (19.07,
21.02) decides the same for this subset:

- input: loopback and established/related flows accepted, SYN flood limit if
  asked, then a jump per zone on the incoming device to `input_ZONE`: the
  rules with that src and no dest, then the zone's input policy. Devices in no
  zone fall through to the defaults' input policy.
- forward: established/related accepted, then `forward_ZONE`: rules with
  that src and a dest, then one jump per forwarding (rules before forwardings,
  as fw4 loads them), then the zone's forward policy, which matches only
  traffic leaving through the zone's own devices (intra-zone). Anything else
  falls through to the defaults' forward policy, not the source zone's.
- rules as fw4's parse_rule splits them: per address family when src_ip or
  ICMP types say which (a family left unset follows them), whole ICMP types
  and type/code pairs in separate rules (lab/shim/fw4_icmp.py), `limit`
  as nft's `limit rate`.
- REJECT is fw4's handle_reject: tcp reset for TCP, ICMP(v6)
  port-unreachable otherwise (fw4's default any_reject_code; fw3 does the same).
- masq: IPv4 masquerade out of the zone's devices, dropping invalid flows
  there (fw4's "Prevent NAT leakage"); mtu_fix: MSS clamped to the route's
  MTU both ways.

The caller resolves each zone's networks to Linux devices (`zone_devices`,
by zone name; a zone with none matches nothing). The script deletes and
recreates its own table in one transaction, so it can be loaded again and
again. Options, targets, protocols and ICMP types outside this subset raise
ValueError naming the section: a renderer change the lab does not emulate
must fail loudly, not be half-applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from controller.uci import Package, Section
from lab.shim.fw4_rule import nft_set, option, rule_matches

__all__ = ["nft_ruleset"]

_VERDICTS = ("accept", "reject", "drop")
_OPTIONS = {  # what the lab emulates; `network` is resolved to devices by the caller
    "defaults": {"input", "output", "forward", "syn_flood", "synflood_protect"},
    "zone": {"name", "network", "input", "output", "forward", "masq", "mtu_fix", "enabled"},
    "forwarding": {"src", "dest", "name", "enabled"},
    "rule": {"name", "src", "dest", "proto", "dest_port", "icmp_type", "family", "target"}
    | {"enabled", "src_ip", "limit", "limit_burst"},
}
_TRUE = frozenset({"1", "on", "true", "yes"})  # fw4's parse_bool
_FALSE = frozenset({"0", "off", "false", "no"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A Linux interface name (IFNAMSIZ - 1): no space, quote, slash or control character.
_DEVICE = re.compile(r"[^\s\"'\\/\x00-\x1f\x7f]{1,15}")


@dataclass
class _Zone:
    name: str
    devices: tuple[str, ...]
    input: str
    output: str
    forward: str
    masq: bool
    mtu_fix: bool
    from_verdicts: set[str] = field(default_factory=set)  # fw4's sflags
    to_verdicts: set[str] = field(default_factory=set)  # fw4's dflags


@dataclass
class _Firewall:
    input: str = "drop"
    output: str = "drop"
    forward: str = "drop"
    syn_flood: bool = False
    zones: dict[str, _Zone] = field(default_factory=dict)
    chains: dict[str, list[str]] = field(default_factory=dict)  # rules of non-base chains

    def add(self, chain: str, line: str) -> None:
        self.chains.setdefault(chain, []).append(line)


def nft_ruleset(
    pkg: Package, zone_devices: Mapping[str, Sequence[str]], *, table: str = "meshkeeper"
) -> str:
    """The `nft -f` script for `pkg`; `zone_devices` maps a zone name to its Linux devices."""
    if not _IDENTIFIER.fullmatch(table):
        raise ValueError(f"nft table name {table!r}: use letters, digits and _")
    fw = _read(pkg, zone_devices)
    body = "".join(f"{line}\n" for line in _table(fw))
    return f"table inet {table} {{}}\ndelete table inet {table}\ntable inet {table} {{\n{body}}}\n"


# ---------------------------------------------------------------- reading UCI


def _read(pkg: Package, zone_devices: Mapping[str, Sequence[str]]) -> _Firewall:
    fw = _Firewall()
    named = list(zip(_where(pkg), pkg.sections, strict=True))
    for where, s in named:
        if s.type not in _OPTIONS:
            raise ValueError(f"{where}: section type {s.type!r} is not emulated in the lab")
        unknown = sorted(set(s.options) - _OPTIONS[s.type])
        if unknown:
            raise ValueError(f"{where}: option {unknown[0]!r} is not emulated in the lab")
    defaults = [(where, s) for where, s in named if s.type == "defaults"]
    if len(defaults) > 1:
        raise ValueError(f"{defaults[1][0]}: a second defaults section")
    for where, s in defaults:
        _read_defaults(fw, where, s)
    # fw4's order: all zones, then all rules, then all forwardings
    enabled = [(where, s) for where, s in named if _bool(where, s, "enabled", default=True)]
    for where, s in enabled:
        if s.type == "zone":
            _read_zone(fw, where, s, zone_devices)
    for where, s in enabled:
        if s.type == "rule":
            _read_rule(fw, where, s)
    for where, s in enabled:
        if s.type == "forwarding":
            _read_forwarding(fw, where, s)
    return fw


def _read_defaults(fw: _Firewall, where: str, s: Section) -> None:
    fw.input = _verdict(where, s, "input", "drop")
    fw.output = _verdict(where, s, "output", "drop")
    fw.forward = _verdict(where, s, "forward", "drop")
    syn_flood = _bool(where, s, "syn_flood", default=False)
    fw.syn_flood = _bool(where, s, "synflood_protect", default=syn_flood)


def _read_zone(
    fw: _Firewall, where: str, s: Section, zone_devices: Mapping[str, Sequence[str]]
) -> None:
    name = _text(where, s, "name")
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{where}: zone name {name!r}: use letters, digits and _")
    if name in fw.zones:
        raise ValueError(f"{where}: a second zone named {name!r}")
    devices = tuple(zone_devices.get(name, ()))
    for device in devices:
        if not _DEVICE.fullmatch(device):
            raise ValueError(f"{where}: {device!r} is not a Linux interface name")
    zone = _Zone(
        name,
        devices,
        input=_verdict(where, s, "input", fw.input),
        output=_verdict(where, s, "output", fw.output),
        forward=_verdict(where, s, "forward", fw.forward),
        masq=_bool(where, s, "masq", default=False),
        mtu_fix=_bool(where, s, "mtu_fix", default=False),
    )
    zone.from_verdicts.add(zone.input)
    zone.to_verdicts.update({zone.output, zone.forward})
    fw.zones[name] = zone


def _read_forwarding(fw: _Firewall, where: str, s: Section) -> None:
    src = _zone_ref(fw, where, s, "src")
    dest = _zone_ref(fw, where, s, "dest")
    if src is None or dest is None:
        raise ValueError(f"{where}: a forwarding needs both src and dest")
    name = option(s, "name") or f"Accept {src} to {dest} forwarding"
    chain = "forward" if src == "*" else f"forward_{src}"
    if dest == "*":
        fw.add(chain, f"accept comment {_comment(name)}")
        return
    fw.zones[dest].to_verdicts.add("accept")
    fw.add(chain, f"jump accept_to_{dest} comment {_comment(name)}")


def _read_rule(fw: _Firewall, where: str, s: Section) -> None:
    src = _zone_ref(fw, where, s, "src")
    dest = _zone_ref(fw, where, s, "dest")
    target = _verdict(where, s, "target", None)
    if src:
        chain = ("forward" if dest else "input") + ("" if src == "*" else f"_{src}")
    else:
        chain = "output" if dest in (None, "*") else f"output_{dest}"
    if dest and dest != "*":
        fw.zones[dest].to_verdicts.add(target)
        verdict = f"jump {target}_to_{dest}"
    else:
        verdict = "jump handle_reject" if target == "reject" else target
    comment = _comment(option(s, "name") or where)
    for match in rule_matches(where, s):
        fw.add(chain, f"{match}counter {verdict} comment {comment}")


# ---------------------------------------------------------------- option values


def _where(pkg: Package) -> Iterator[str]:
    """Each section as uci names it: `firewall.NAME`, or `firewall.@TYPE[i]` if anonymous."""
    seen: dict[str, int] = {}
    for s in pkg.sections:
        index = seen[s.type] = seen.get(s.type, -1) + 1
        yield f"{pkg.name}.{s.name}" if s.name is not None else f"{pkg.name}.@{s.type}[{index}]"


def _text(where: str, s: Section, name: str) -> str:
    value = option(s, name)
    if not value:
        raise ValueError(f"{where}: option {name!r} is required")
    return value


def _bool(where: str, s: Section, name: str, *, default: bool) -> bool:
    value = option(s, name)
    if value is None:
        return default
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ValueError(f"{where}: option {name!r} is {value!r}, not a boolean")


def _verdict(where: str, s: Section, name: str, default: str | None) -> str:
    value = option(s, name)
    if value is None and default is not None:
        return default
    if value is None or value.lower() not in _VERDICTS:
        raise ValueError(f"{where}: {name} {value!r} is not emulated (ACCEPT, REJECT or DROP)")
    return value.lower()


def _zone_ref(fw: _Firewall, where: str, s: Section, name: str) -> str | None:
    value = option(s, name)
    if value is not None and value != "*" and value not in fw.zones:
        raise ValueError(f"{where}: {name} {value!r} is not a zone")
    return value


def _comment(text: str) -> str:
    """An nft comment: printable ASCII without quotes or backslash, at most 128 bytes."""
    safe = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in text)
    return f'"{safe[:128]}"'


def _devices(zone: _Zone) -> str:
    return nft_set([f'"{d}"' for d in zone.devices])


# ---------------------------------------------------------------- the ruleset


def _table(fw: _Firewall) -> Iterator[str]:
    zones = list(fw.zones.values())
    yield from _base_chain("input", "filter", "filter", fw.input, _input_head(fw))
    yield from _base_chain("forward", "filter", "filter", fw.forward, _forward_head(fw))
    yield from _base_chain("output", "filter", "filter", fw.output, _output_head(fw))
    yield from _chain(
        "handle_reject",
        [
            'meta l4proto tcp reject with tcp reset comment "Reject TCP traffic"',
            'reject with icmpx type port-unreachable comment "Reject any other traffic"',
        ],
    )
    if fw.syn_flood:
        yield from _chain(
            "syn_flood",
            [
                "limit rate 25/second burst 50 packets return"
                ' comment "Accept SYN packets below the rate limit"',
                'drop comment "Drop excess packets"',
            ],
        )
    for zone in zones:
        yield from _zone_chains(fw, zone)
    masq = [z for z in zones if z.masq and z.devices]
    if masq:
        lines = [f"oifname {_devices(z)} jump srcnat_{z.name}" for z in masq]
        yield from _base_chain("srcnat", "nat", "srcnat", "accept", lines, hook="postrouting")
        for z in masq:
            yield from _chain(
                f"srcnat_{z.name}",
                [f'meta nfproto ipv4 masquerade comment "Masquerade IPv4 {z.name} traffic"'],
            )
    mtu_fix = [z for z in zones if z.mtu_fix and z.devices]
    if mtu_fix:
        clamp = "tcp flags syn / syn,fin,rst tcp option maxseg size set rt mtu"
        lines = [
            f'{way} {_devices(z)} {clamp} comment "Zone {z.name} {label} MTU fixing"'
            for z in mtu_fix
            for way, label in (("iifname", "ingress"), ("oifname", "egress"))
        ]
        yield from _base_chain(
            "mangle_forward", "filter", "mangle", "accept", lines, hook="forward"
        )


def _input_head(fw: _Firewall) -> list[str]:
    lines = [
        'iifname "lo" accept comment "Accept traffic from loopback"',
        'ct state established,related accept comment "Allow inbound established flows"',
    ]
    if fw.syn_flood:
        lines.append(
            "tcp flags & (fin | syn | rst | ack) == syn jump syn_flood"
            ' comment "Rate limit TCP SYN packets"'
        )
    return lines + fw.chains.get("input", []) + _zone_jumps(fw, "iifname", "input")


def _forward_head(fw: _Firewall) -> list[str]:
    lines = ['ct state established,related accept comment "Allow forwarded established flows"']
    return lines + fw.chains.get("forward", []) + _zone_jumps(fw, "iifname", "forward")


def _output_head(fw: _Firewall) -> list[str]:
    lines = [
        'oifname "lo" accept comment "Accept traffic towards loopback"',
        'ct state established,related accept comment "Allow outbound established flows"',
    ]
    return lines + fw.chains.get("output", []) + _zone_jumps(fw, "oifname", "output")


def _zone_jumps(fw: _Firewall, way: str, direction: str) -> list[str]:
    return [
        f'{way} {_devices(z)} jump {direction}_{z.name} comment "{z.name} {direction} traffic"'
        for z in fw.zones.values()
        if z.devices
    ]


def _zone_chains(fw: _Firewall, zone: _Zone) -> Iterator[str]:
    name = zone.name
    for direction, policy, end in (
        ("input", zone.input, "from"),
        ("output", zone.output, "to"),
        ("forward", zone.forward, "to"),
    ):
        rules = fw.chains.get(f"{direction}_{name}", [])
        yield from _chain(f"{direction}_{name}", [*rules, f"jump {policy}_{end}_{name}"])
    for verdict in _VERDICTS:
        if verdict in zone.from_verdicts:
            yield from _chain(f"{verdict}_from_{name}", _verdict_lines(zone, verdict, "iifname"))
        if verdict in zone.to_verdicts:
            lines = _verdict_lines(zone, verdict, "oifname")
            if verdict == "accept" and zone.masq and zone.devices:
                leak = f"meta nfproto ipv4 oifname {_devices(zone)} ct state invalid counter drop"
                lines.insert(0, f'{leak} comment "Prevent NAT leakage"')
            yield from _chain(f"{verdict}_to_{name}", lines)


def _verdict_lines(zone: _Zone, verdict: str, way: str) -> list[str]:
    if not zone.devices:
        return []
    action = "jump handle_reject" if verdict == "reject" else verdict
    return [f'{way} {_devices(zone)} counter {action} comment "{verdict} {zone.name} traffic"']


def _base_chain(
    name: str,
    kind: str,
    priority: str,
    policy: str,
    lines: list[str],
    *,
    hook: str | None = None,
) -> Iterator[str]:
    """A base chain; a REJECT policy is policy drop after a jump to handle_reject."""
    head = f"type {kind} hook {hook or name} priority {priority}; policy {_drop_if_reject(policy)};"
    tail = ["jump handle_reject"] if policy == "reject" else []
    yield from _chain(name, [head, *lines, *tail])


def _drop_if_reject(policy: str) -> str:
    return "drop" if policy == "reject" else policy


def _chain(name: str, lines: list[str]) -> Iterator[str]:
    yield f"\tchain {name} {{"
    for line in lines:
        yield f"\t\t{line}"
    yield "\t}"
