"""Benchmark: shutdown detection in the practice lab, fault by fault, router by router.

    .venv/bin/python bench/detect.py [--healthy-minutes 10] [--only NAME...] [--smoke]
                                     [--attach INVENTORY]

Root only. Builds the lab from a copy of the example network (or, with
--attach, uses the lab already up for that inventory and leaves it up), lets
the agents learn their baselines, then for each scenario: injects its faults
(`lab fault`), watches every router's verdict (scraped from inside the
router's own namespace, so a router cut off from the NOC is still read),
heals, and watches the verdicts clear. It prints:

- the confusion matrix: scenario x router, what the router held at the end of
  the detection window against what it should (`.` right, `X` wrong);
- detection and clear delays in probe rounds (the lab probes every 5 s);
- false verdicts during --healthy-minutes of running with 5 % random loss on
  every mesh link (any class but ok on any router is one).

Targets (issue 14): 100 % on the diagonal, median detection <= 3 rounds,
0 false verdicts in 10 healthy minutes. --smoke: one scenario (the
international cut) and no healthy run; `make test` runs it on the lab tests'
own lab (tests/lab/test_detect.py). A benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controller.model.inventory import Inventory  # noqa: E402
from controller.model.load import load_inventory  # noqa: E402
from lab.build import down, up, wait_reachable  # noqa: E402
from lab.faults import heal, inject  # noqa: E402
from lab.host import namespaces  # noqa: E402
from lab.paths import LabPaths  # noqa: E402
from lab.plan import LabPlan, lab_plan  # noqa: E402
from lab.router import PROBE_INTERVAL  # noqa: E402

EXAMPLE = ROOT / "inventory"
DOWN = "unreachable"  # a router whose agent cannot be read (powered off)
ROUND = float(PROBE_INTERVAL)
DETECT_ROUNDS = 8  # the window a verdict has to appear in
CLEAR_ROUNDS = 6
VERDICT = re.compile(r"^meshkeeper_verdict\{(?P<labels>[^}]*)\} 1(?:\.0)?$", re.MULTILINE)
LABEL = re.compile(r'(\w+)="([^"]*)"')
SCRAPE = (
    "import sys, urllib.request\n"
    "try:\n"
    "    sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())\n"
    "except OSError as exc:\n"
    "    sys.exit(f'unreachable: {exc}')\n"
)

Expected = Callable[[str, Inventory], set[frozenset[str]]]  # router -> acceptable verdicts


def verdict_set(*classes: str) -> frozenset[str]:
    return frozenset(classes)


OK = verdict_set("ok")


def everywhere(*classes: str) -> Expected:
    return lambda node, inv: {verdict_set(*classes)}


def by_role(gateway: Callable[[str], set[frozenset[str]]], others: set[frozenset[str]]) -> Expected:
    def expected(node: str, inv: Inventory) -> set[frozenset[str]]:
        return gateway(node) if inv.nodes[node].uplinks else others

    return expected


def cut_off_by(dead: str) -> Expected:
    """A router powered off: it is unreachable; routers whose every path to a gateway
    crossed it see a mesh partition; the rest stay ok."""

    def expected(node: str, inv: Inventory) -> set[frozenset[str]]:
        if node == dead:
            return {verdict_set(DOWN)}
        return {verdict_set("mesh_partition")} if node in _isolated(inv, dead) else {OK}

    return expected


def _isolated(inv: Inventory, dead: str) -> set[str]:
    gateways = {n for n, node in inv.nodes.items() if node.uplinks and n != dead}
    links = [(k.a, k.b) for k in inv.links if dead not in (k.a, k.b)]
    reach = set(gateways)
    while True:
        more = {b for a, b in links if a in reach} | {a for a, b in links if b in reach}
        if more <= reach:
            break
        reach |= more
    return set(inv.nodes) - reach - {dead}


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: tuple[tuple[str, tuple[str, ...]], ...]
    expected: Expected
    slow: bool = False  # needs a throughput round: up to `throughput.every` rounds more


def scenarios() -> list[Scenario]:
    intl, nat = "international_shutdown", "national_shutdown"
    fibre_gw = lambda node: {verdict_set("isp_outage")} if node == "gw-market" else {OK}  # noqa: E731
    fibre_intl = lambda node: {verdict_set(intl)} if node == "gw-market" else {OK}  # noqa: E731
    return [
        Scenario("international-cut", (("international-cut", ("all",)),), everywhere(intl)),
        Scenario("national-cut", (("national-cut", ()),), everywhere(nat)),
        Scenario(
            "isp-down fibre",
            (("isp-down", ("isp-fibre",)),),
            by_role(fibre_gw, {verdict_set("isp_outage")}),
        ),
        Scenario("dns-tamper", (("dns-tamper", ()),), everywhere("dns_tampering")),
        Scenario(
            "dns-tamper at the LTE resolver only",
            (("dns-tamper", ("at=isp-lte",)),),
            # gw-market asks only its own ISP's resolver and the one abroad: it sees nothing
            lambda node, inv: {OK} if node == "gw-market" else {verdict_set("dns_tampering")},
        ),
        *(
            Scenario(
                f"platform-block chat {layer}",
                (("platform-block", ("chat", layer)),),
                everywhere(f"platform_blocked{{chat,{label}}}"),
            )
            for layer, label in (
                ("dns", "dns"),
                ("tcp", "tcp_ip"),
                ("tls-sni", "tls_sni"),
                ("http", "http"),
            )
        ),
        Scenario(
            "throttle video",
            (("throttle", ("198.18.2.30", "256")),),
            everywhere("throttled{video}"),
            slow=True,
        ),
        Scenario(
            "node-down relay-water-tower",
            (("node-down", ("relay-water-tower",)),),
            cut_off_by("relay-water-tower"),
        ),
        Scenario(
            "link-down gw-market gw-school",
            (("link-down", ("gw-market", "gw-school")),),
            everywhere("ok"),
        ),
        Scenario(
            "international-cut fibre only",
            (("international-cut", ("isp-fibre",)),),
            by_role(fibre_intl, {verdict_set(intl), OK}),
        ),
        Scenario(
            "platform blocked, another throttled",
            (("platform-block", ("chat", "tcp")), ("throttle", ("198.18.2.30", "256"))),
            everywhere("platform_blocked{chat,tcp_ip}", "throttled{video}"),
            slow=True,
        ),
        Scenario(
            "gateway power cut during an international cut",
            (("international-cut", ("all",)), ("node-down", ("gw-market",))),
            lambda node, inv: {verdict_set(DOWN)} if node == "gw-market" else {verdict_set(intl)},
        ),
    ]


# --- reading the routers -------------------------------------------------------------


def shown(labels: dict[str, str]) -> str:
    cls = labels.get("class", "")
    if cls == "platform_blocked":
        return f"{cls}{{{labels.get('platform')},{labels.get('layer')}}}"
    if cls == "throttled":
        return f"{cls}{{{labels.get('target')}}}"
    return cls


def read_verdict(plan: LabPlan, inv: Inventory, node: str) -> frozenset[str]:
    address = f"http://{inv.plan[node].management}:{inv.nodes[node].agent.port}/metrics"
    proc = subprocess.run(
        ["ip", "netns", "exec", plan.nodes[node].namespace, sys.executable, "-c", SCRAPE, address],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if proc.returncode != 0:
        return verdict_set(DOWN)
    held = {shown(dict(LABEL.findall(m.group("labels")))) for m in VERDICT.finditer(proc.stdout)}
    return frozenset(held) or verdict_set(DOWN)


def read_all(plan: LabPlan, inv: Inventory) -> dict[str, frozenset[str]]:
    return {node: read_verdict(plan, inv, node) for node in sorted(plan.nodes)}


# --- running a scenario --------------------------------------------------------------


@dataclass
class Outcome:
    scenario: str
    final: dict[str, frozenset[str]] = field(default_factory=dict)
    right: dict[str, bool] = field(default_factory=dict)
    detect_rounds: dict[str, float] = field(default_factory=dict)
    clear_rounds: float | None = None
    strays: dict[str, set[str]] = field(default_factory=dict)  # classes no rule expected


def run_scenario(
    inv: Inventory, plan: LabPlan, paths: LabPaths, scenario: Scenario, hold: float = 0
) -> Outcome:
    """Inject, watch every router's verdict until each holds what it should (or the
    window ends), keep the fault `hold` rounds more (the NOC's alerts need the verdict
    held a round before they fire), heal, and watch the verdicts clear."""
    outcome = Outcome(scenario.name)
    expected = {node: scenario.expected(node, inv) for node in plan.nodes}
    allowed = {node: set().union(*expected[node]) | {"ok"} for node in plan.nodes}
    for kind, args in scenario.faults:
        inject(inv, plan, paths, kind, list(args))
    started = time.monotonic()
    window = DETECT_ROUNDS + (inv.probes.throughput.every if scenario.slow else 0)
    while time.monotonic() - started < window * ROUND:
        seen = read_all(plan, inv)
        elapsed = (time.monotonic() - started) / ROUND
        for node, held in seen.items():
            outcome.final[node] = held
            if held in expected[node] and node not in outcome.detect_rounds:
                outcome.detect_rounds[node] = elapsed
            elif held not in expected[node]:
                outcome.detect_rounds.pop(node, None)  # it must hold, not flicker by
            stray = set(held) - allowed[node] - {DOWN}
            if stray:
                outcome.strays.setdefault(node, set()).update(stray)
        if all(seen[n] in expected[n] for n in seen) and elapsed >= 3:
            break
        time.sleep(1.0)
    outcome.right = {n: outcome.final[n] in expected[n] for n in plan.nodes}
    time.sleep(hold * ROUND)
    heal(inv, plan, paths)
    healed = time.monotonic()
    while time.monotonic() - healed < CLEAR_ROUNDS * ROUND * 3:
        if all(v == OK for v in read_all(plan, inv).values()):
            outcome.clear_rounds = (time.monotonic() - healed) / ROUND
            break
        time.sleep(1.0)
    return outcome


def healthy_run(
    inv: Inventory, plan: LabPlan, paths: LabPaths, minutes: float
) -> dict[str, set[str]]:
    """Every mesh link loses 5 % of its packets; any verdict but ok is a false one."""
    for link in inv.links:
        inject(inv, plan, paths, "link-loss", [link.a, link.b, "5"])
    false: dict[str, set[str]] = {}
    try:
        ends = time.monotonic() + minutes * 60
        while time.monotonic() < ends:
            for node, held in read_all(plan, inv).items():
                if held != OK:
                    false.setdefault(node, set()).update(held)
            time.sleep(ROUND)
    finally:
        heal(inv, plan, paths)
    return false


# --- the report ----------------------------------------------------------------------


def report(outcomes: list[Outcome], nodes: list[str], false: dict[str, set[str]] | None) -> int:
    short = [n.split("-", 1)[-1][:6] for n in nodes]
    print("\nconfusion matrix (. = the expected verdict, X = not; rows: faults, columns: routers)")
    print(f"{'scenario':<48} " + " ".join(f"{s:>6}" for s in short))
    for outcome in outcomes:
        cells = " ".join(f"{'.' if outcome.right.get(n) else 'X':>6}" for n in nodes)
        print(f"{outcome.scenario:<48} {cells}")
    problems = 0
    for outcome in outcomes:
        for node in nodes:
            if not outcome.right.get(node):
                problems += 1
                print(f"  {outcome.scenario}: {node} held {sorted(outcome.final.get(node, ()))}")
            if outcome.strays.get(node):
                problems += 1
                print(f"  {outcome.scenario}: {node} also showed {sorted(outcome.strays[node])}")
    cells = sum(len(nodes) for _ in outcomes)
    right = sum(sum(o.right.values()) for o in outcomes)
    detections = [d for o in outcomes for n, d in o.detect_rounds.items() if o.final[n] != OK]
    clears = [o.clear_rounds for o in outcomes if o.clear_rounds is not None]
    print(f"\ndiagonal: {right}/{cells} = {100 * right / max(cells, 1):.1f} % (target 100 %)")
    if detections:
        print(
            f"detection delay, rounds: median {statistics.median(detections):.1f}, "
            f"max {max(detections):.1f} (target median <= 3; one round = {ROUND:g} s)"
        )
    if clears:
        print(
            f"clear delay after heal, rounds: median {statistics.median(clears):.1f}, "
            f"max {max(clears):.1f}"
        )
    uncleared = [o.scenario for o in outcomes if o.clear_rounds is None]
    if uncleared:
        problems += len(uncleared)
        print(f"did not clear after heal: {', '.join(uncleared)}")
    if false is not None:
        count = sum(len(v) for v in false.values())
        print(f"false verdicts during the healthy run with 5 % link loss: {count} {false or ''}")
        problems += count
    return problems


def bench(
    inventory: Path, attach: bool, only: list[str], smoke: bool, minutes: float, hold: float = 0
) -> int:
    inv = load_inventory(inventory, resolve_secrets=True)
    paths = LabPaths.for_inventory(inventory)
    if not attach:
        print("lab up ...", flush=True)
        started = time.monotonic()
        up(inv)
        wait_reachable(inv, 180)
        print(f"  up and converged in {time.monotonic() - started:.1f} s", flush=True)
    plan = lab_plan(inv)
    # A new lab's agents learn their baselines in their first healthy rounds (three at
    # least); an attached lab has been running.
    learn = time.monotonic() + (0 if attach else 4 * ROUND)
    while time.monotonic() < learn or any(v != OK for v in read_all(plan, inv).values()):
        if time.monotonic() > learn + 30 * ROUND:
            print(f"not every router is ok before the first fault: {read_all(plan, inv)}")
            return 1
        time.sleep(1.0)
    chosen = [s for s in scenarios() if not only or s.name in only]
    if smoke:
        chosen = chosen[:1]
    outcomes = []
    for scenario in chosen:
        print(f"{scenario.name} ...", flush=True)
        outcome = run_scenario(inv, plan, paths, scenario, hold)
        detected = [d for n, d in outcome.detect_rounds.items() if outcome.final[n] != OK]
        delay = (
            f"detected in {statistics.median(detected):.1f} rounds"
            if detected
            else "nothing to detect"
        )
        clear = (
            f"cleared in {outcome.clear_rounds:.1f}"
            if outcome.clear_rounds is not None
            else "NOT cleared"
        )
        print(
            f"  {sum(outcome.right.values())}/{len(plan.nodes)} right; {delay}; {clear}", flush=True
        )
        outcomes.append(outcome)
    false = None if smoke or minutes <= 0 else healthy_run(inv, plan, paths, minutes)
    return report(outcomes, sorted(plan.nodes), false)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="one scenario, no healthy run")
    parser.add_argument("--attach", type=Path, help="use the lab already up for this inventory")
    parser.add_argument("--only", nargs="+", default=[], metavar="SCENARIO")
    parser.add_argument("--healthy-minutes", type=float, default=10.0)
    parser.add_argument(
        "--hold",
        type=float,
        default=0,
        metavar="ROUNDS",
        help="keep each fault this many rounds after detection (for the NOC's alerts)",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/detect.py runs the practice lab: run it as root")
    if args.attach:
        failed = bench(args.attach, True, args.only, args.smoke, args.healthy_minutes, args.hold)
        sys.exit(1 if failed else 0)
    if any(n.startswith("mk") for n in namespaces()):
        sys.exit("a lab is up: its names are machine-wide — take it down first, or --attach it")
    base = Path(tempfile.mkdtemp(prefix="mk-bench-detect-"))
    inventory = base / "inventory"
    shutil.copytree(EXAMPLE, inventory)
    LabPaths.for_inventory(inventory).make_controller_keys()
    try:
        problems = bench(inventory, False, args.only, args.smoke, args.healthy_minutes, args.hold)
    finally:
        down(LabPaths.for_inventory(inventory))
        shutil.rmtree(base, ignore_errors=True)
    if problems:
        sys.exit(f"bench finished with {problems} problem(s); see above")


if __name__ == "__main__":
    main()
