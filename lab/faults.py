"""`lab fault KIND ARGS` and `lab heal [KIND]`: the failures meshkeeper must tell apart.

Each fault is recorded in .meshkeeper/lab/faults.json so `heal` works from a
fresh process, and each is undone exactly. What each does at packet level:

    node-down NODE         power cut: every process of the router is killed, its /tmp
                           (RAM) wiped and its links lose carrier; heal boots it again
                           (boot hooks first, so a rollback armed on flash can act)
    link-down A B          both ends of the A–B veth lose carrier
    link-loss A B PCT      nftables drops PCT % of packets entering either end, at random
    isp-down ISP           the ISP's namespace drops everything: its first hop, resolver
                           and transit stop answering (the uplink keeps carrier)
    international-cut [ISP|all]
                           packets to and from 198.18.0.0/16 (abroad) are dropped at the
                           ISP (or at the national exchange, for all); domestic still works
    national-cut           each ISP forwards nothing beyond itself: its first hop and
                           resolver still answer, domestic and abroad are dead
    throttle TARGET RATE   traffic to and from TARGET (an address) is policed to RATE
                           kbit/s at the exchange: a flat rate, as a policer makes
    dns-tamper [NAME...] [lie|nxdomain|bogon|inject] [at=ISP|at=international]
                           every resolver (the ISPs' and 198.18.0.53; with at=, that
                           one only) lies about NAME
                           (default: every platform host; default mode: lie, pointing at
                           198.18.66.6 where nothing listens); `inject` also makes the
                           non-resolver 198.18.0.99 "answer", and the resolvers send a
                           forged reply before the genuine one
    platform-block PLATFORM [dns|tcp|tls-sni|http]
                           dns: resolvers say NXDOMAIN for its host; tcp: the exchange
                           resets TCP to its address; tls-sni: its TLS endpoint resets a
                           ClientHello naming it; http: a 451 block page for its Host
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, field

from controller.model.inventory import Inventory
from lab import upstream
from lab.host import LabError, ip, run
from lab.paths import LabPaths
from lab.plan import EXCHANGE_NS, LabPlan
from lab.router import boot, power_off

TABLE = "meshkeeper_fault"
ABROAD = "198.18.0.0/16"
NETWORK_KINDS = (
    "node-down",
    "link-down",
    "link-loss",
    "isp-down",
    "international-cut",
    "national-cut",
    "throttle",
)
SERVICE_KINDS = ("dns-tamper", "platform-block")
KINDS = NETWORK_KINDS + SERVICE_KINDS
LAYERS = ("dns", "tcp", "tls-sni", "http")


@dataclass(frozen=True)
class Fault:
    kind: str
    args: tuple[str, ...]
    # nft rules added per namespace (each namespace's fault table is rebuilt from all faults)
    rules: dict[str, list[str]] = field(default_factory=dict)


def _load(paths: LabPaths) -> list[Fault]:
    try:
        data = json.loads((paths.root / "faults.json").read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [Fault(d["kind"], tuple(d["args"]), d["rules"]) for d in data]


def _save(paths: LabPaths, faults: list[Fault]) -> None:
    (paths.root / "faults.json").write_text(
        json.dumps([asdict(f) for f in faults], indent=2) + "\n", encoding="utf-8"
    )


def inject(inv: Inventory, plan: LabPlan, paths: LabPaths, kind: str, args: list[str]) -> Fault:
    if kind not in KINDS:
        raise LabError(f"unknown fault {kind!r} — one of: {', '.join(KINDS)}")
    faults = _load(paths)
    fault = _build(inv, plan, kind, args)
    if any(f.kind == fault.kind and f.args == fault.args for f in faults):
        return fault
    if kind == "node-down":
        node = plan.nodes[fault.args[0]]
        power_off(node, paths.node(node.name))
        _set_links(plan, node.name, "down")
    elif kind == "link-down":
        _set_link(plan, fault.args[0], fault.args[1], "down")
    faults.append(fault)
    _apply_tables(faults, plan)
    if kind in SERVICE_KINDS:
        upstream.start(inv, plan, paths, _service_faults(faults))
    _save(paths, faults)
    return fault


def _service_faults(faults: list[Fault]) -> list[tuple[str, tuple[str, ...]]]:
    return [(f.kind, f.args) for f in faults if f.kind in SERVICE_KINDS]


def heal(inv: Inventory, plan: LabPlan, paths: LabPaths, kind: str | None = None) -> list[Fault]:
    faults = _load(paths)
    healed = [f for f in faults if kind is None or f.kind == kind]
    remaining = [f for f in faults if f not in healed]
    for fault in healed:
        if fault.kind == "link-down":
            _set_link(plan, fault.args[0], fault.args[1], "up")
    for fault in healed:
        if fault.kind == "node-down":
            name = fault.args[0]
            _set_links(plan, name, "up", skip={f.args for f in remaining if f.kind == "link-down"})
            boot(plan.nodes[name])
    _apply_tables(remaining, plan, also=healed)
    if any(f.kind in SERVICE_KINDS for f in healed):
        upstream.start(inv, plan, paths, _service_faults(remaining))
    _save(paths, remaining)
    return healed


def active(paths: LabPaths) -> list[Fault]:
    return _load(paths)


def _build(inv: Inventory, plan: LabPlan, kind: str, args: list[str]) -> Fault:
    def need(count: int, usage: str) -> None:
        if len(args) != count:
            raise LabError(f"usage: lab fault {kind} {usage}")

    def node(name: str) -> str:
        if name not in plan.nodes:
            raise LabError(f"no router {name!r} — one of: {', '.join(plan.nodes)}")
        return name

    if kind == "node-down":
        need(1, "NODE")
        return Fault(kind, (node(args[0]),))
    if kind in ("link-down", "link-loss"):
        need(2 if kind == "link-down" else 3, "A B" + (" PERCENT" if kind == "link-loss" else ""))
        a, b = node(args[0]), node(args[1])
        link = _find_link(plan, a, b)
        if kind == "link-down":
            return Fault(kind, (a, b))
        percent = int(args[2])
        if not 0 < percent <= 100:
            raise LabError("PERCENT is 1 to 100")
        rules = {
            plan.nodes[link.a].namespace: [
                f'iifname "{link.dev_a}" numgen random mod 100 < {percent} drop'
            ],
            plan.nodes[link.b].namespace: [
                f'iifname "{link.dev_b}" numgen random mod 100 < {percent} drop'
            ],
        }
        return Fault(kind, (a, b, str(percent)), rules)
    if kind == "isp-down":
        need(1, "ISP")
        isp = _isp(plan, args[0])
        return Fault(kind, (isp.name,), {isp.namespace: ["drop"]})
    if kind == "international-cut":
        which = args[0] if args else "all"
        if which == "all":
            return Fault(
                kind,
                ("all",),
                {EXCHANGE_NS: [f"ip daddr {ABROAD} drop", f"ip saddr {ABROAD} drop"]},
            )
        isp = _isp(plan, which)
        return Fault(
            kind,
            (isp.name,),
            {isp.namespace: [f"ip daddr {ABROAD} drop", f"ip saddr {ABROAD} drop"]},
        )
    if kind == "national-cut":
        need(0, "")
        return Fault(
            kind,
            (),
            {
                isp.namespace: ['oifname "ix" drop', 'iifname "ix" drop']
                for isp in plan.isps.values()
            },
        )
    if kind == "throttle":
        need(2, "TARGET RATE_KBIT")
        target = ipaddress.IPv4Address(args[0])
        rate = int(args[1])
        kbytes = max(rate // 8, 1)
        return Fault(
            kind,
            (str(target), str(rate)),
            {
                EXCHANGE_NS: [
                    f"ip daddr {target} limit rate over {kbytes} kbytes/second drop",
                    f"ip saddr {target} limit rate over {kbytes} kbytes/second drop",
                ]
            },
        )
    if kind == "dns-tamper":
        for arg in args:
            at = arg.removeprefix("at=")
            if arg.startswith("at=") and at not in (*plan.isps, upstream.INTERNATIONAL):
                raise LabError(
                    f"{arg}: no such resolver — at= one of: "
                    f"{', '.join([*plan.isps, upstream.INTERNATIONAL])}"
                )
        return Fault(kind, tuple(args))
    if kind == "platform-block":
        platforms = {t.name: t for t in inv.probes.tiers.platforms}
        if not args or args[0] not in platforms:
            raise LabError(
                f"usage: lab fault platform-block PLATFORM [{'|'.join(LAYERS)}] — "
                f"platforms: {', '.join(platforms)}"
            )
        layer = args[1] if len(args) > 1 else "tcp"
        if layer not in LAYERS:
            raise LabError(f"layer {layer!r} — one of: {', '.join(LAYERS)}")
        address = platforms[args[0]].address
        rules = (
            {EXCHANGE_NS: [f"ip daddr {address} tcp dport {{ 80, 443 }} reject with tcp reset"]}
            if layer == "tcp" and address
            else {}
        )
        return Fault(kind, (args[0], layer), rules)
    raise LabError(f"unknown fault {kind!r}")


def _isp(plan: LabPlan, name: str):  # type: ignore[no-untyped-def]
    if name not in plan.isps:
        raise LabError(f"no ISP {name!r} — one of: {', '.join(plan.isps)}")
    return plan.isps[name]


def _find_link(plan: LabPlan, a: str, b: str):  # type: ignore[no-untyped-def]
    for link in plan.links:
        if {link.a, link.b} == {a, b}:
            return link
    raise LabError(f"no expected link between {a} and {b}")


def _set_link(plan: LabPlan, a: str, b: str, state: str) -> None:
    link = _find_link(plan, a, b)
    ip("link", "set", link.dev_a, state, netns=plan.nodes[link.a].namespace, check=False)
    ip("link", "set", link.dev_b, state, netns=plan.nodes[link.b].namespace, check=False)


def _set_links(
    plan: LabPlan, name: str, state: str, skip: set[tuple[str, ...]] | None = None
) -> None:
    for link in plan.links:
        if name in (link.a, link.b):
            if skip and any({link.a, link.b} == set(s) for s in skip):
                continue
            _set_link(plan, link.a, link.b, state)
    node = plan.nodes[name]
    for uplink in node.uplinks:
        ip("link", "set", uplink.node_dev, state, netns=node.namespace, check=False)
    if node.noc_port:
        ip("link", "set", node.noc_port, state, netns=node.namespace, check=False)


def _apply_tables(faults: list[Fault], plan: LabPlan, also: list[Fault] | None = None) -> None:
    """Rebuild the fault table of every namespace any of these faults touched."""
    touched = {ns for f in [*faults, *(also or [])] for ns in f.rules}
    for netns in sorted(touched):
        rules = [r for f in faults for r in f.rules.get(netns, [])]
        script = [f"table inet {TABLE} {{}}", f"delete table inet {TABLE}"]
        if rules:
            body = "\n".join(f"    {r}" for r in rules)
            chains = "".join(
                f"  chain {hook} {{ type filter hook {hook} priority -10; policy accept;\n"
                f"{body}\n  }}\n"
                for hook in ("input", "forward")
            )
            script.append(f"table inet {TABLE} {{\n{chains}}}")
        run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input_text="\n".join(script) + "\n")


def fault_summary(faults: list[Fault]) -> str:
    return "\n".join(f"{f.kind} {' '.join(f.args)}".rstrip() for f in faults) or "no faults"
