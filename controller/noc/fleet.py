"""`meshkeeper status`: the fleet in one view, push state beside what the routers say.

Three sources joined per node, in inventory order:

    inventory     which routers there are, and their role
    state.db      what the controller last pushed (status, generation, last error)
    live          what each agent says now (answering, running generation, push
                  pending confirm, expected links up, verdict), read either from
                  the NOC's Prometheus (`live_from_prometheus`: a handful of
                  instant queries, one answer each for the whole fleet) or from
                  the agents themselves (`live_from_agents`: no Prometheus needed)

Both live sources carry words an agent chose (neighbour, target and platform
names), so every value is escaped and cut before it reaches the terminal, and
the table fits its width in terminal columns, wide characters counted twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from agent import contract
from controller.noc.api import NocUnreachable, get_json
from controller.noc.scrape import LOCKED, MAX_VERDICT, AgentView, scrape_all
from controller.noc.targets import AgentTarget
from controller.push.report import shown
from controller.push.state import NodeState

UP = "up"
DOWN = "down"
NOT_SCRAPED = "not scraped"  # asked, but no answer about this node at all
NO_AGENT = "no agent"  # the inventory disables this router's agent: nothing to ask
NEVER_PUSHED = "never pushed"
IN_SYNC = "in sync"
PENDING = "pending confirm"
UNKNOWN = "unknown"
OK = "ok"
# Push states that need a person. `drifted` (files edited on the router) and
# `unreachable` (the last push never reached it) too: what runs there is not what
# the controller meant it to run.
FAILED_PUSH = frozenset({"failed", "rolled_back", "unreachable", "drifted"})
# No failure by itself. NOT_SCRAPED is one: a router the inventory has whose agent
# Prometheus holds nothing about (a segment cut off, a router added since the render).
_QUIET_AGENT = (None, UP, LOCKED, NO_AGENT)
MAX_NAMES = MAX_VERDICT  # verdict findings, or links down, kept per router


@dataclass(frozen=True)
class Live:
    """What one router's agent says now."""

    agent: str  # UP, DOWN, LOCKED, or why there is no reading
    generation: int | None = None  # running config generation; None: not reported
    pending: bool | None = None  # a push waits for its confirm; None: not known
    links_up: int | None = None
    links_expected: int | None = None
    links_down: tuple[str, ...] = ()  # expected neighbours not answering
    verdict: tuple[str, ...] | None = None  # held classes but ok; None: no verdict


@dataclass(frozen=True)
class RouterStatus:
    node: str
    role: str  # "-" for a node no longer in the inventory
    in_inventory: bool
    push: str  # state.db status, or NEVER_PUSHED
    pushed: int | None  # generation the controller pushed
    agent: str | None  # UP, DOWN, LOCKED, NOT_SCRAPED or why; None when not asked
    running: int | None  # generation the agent reports
    config: str  # IN_SYNC, "behind: runs N, pushed M", "ahead: …", PENDING, UNKNOWN
    links_up: int | None
    links_expected: int | None
    links_down: tuple[str, ...]
    verdict: tuple[str, ...] | None  # finding_text of each class held but ok; () when ok
    last_error: str | None


# ---------------------------------------------------------------- live: agents


def live_from_agents(targets: list[AgentTarget], timeout: float = 5.0) -> dict[str, Live]:
    """Ask every agent once, side by side (the embedded default)."""
    return {view.node: _from_view(view) for view in scrape_all(targets, timeout)}


def _from_view(view: AgentView) -> Live:
    if view.answer != "ok":
        return Live(agent=view.answer)  # LOCKED, or why there is no reading
    return Live(
        agent=UP,
        generation=view.generation,
        # AgentView.pending: read once scrape.py reads the contract's M_CONFIG_PENDING
        pending=view.pending,
        links_up=sum(view.links.values()),
        links_expected=len(view.links),
        links_down=tuple(sorted(n for n, up in view.links.items() if not up))[:MAX_NAMES],
        verdict=_held(view.verdict),
    )


def _held(findings: Iterable[str]) -> tuple[str, ...] | None:
    """The classes held but ok, sorted; None when the agent holds none at all (it runs
    no detector): an agent with a verdict always holds at least `ok`."""
    seen = sorted(set(findings))
    return tuple(f for f in seen if f != OK)[:MAX_NAMES] if seen else None


# ------------------------------------------------------------ live: Prometheus


def _selector(network: str | None) -> str:
    labels = f'job="{contract.JOB_AGENTS}"'
    if network is not None:
        labels += f",network={json.dumps(network)}"  # a Go-quoted string PromQL reads
    return "{" + labels + "}"


def _queries(network: str | None) -> dict[str, str]:
    """One instant query per fact, each one vector over the fleet, node by node."""
    sel = _selector(network)
    finding = ", ".join(contract.VERDICT_LABELS)
    return {
        "up": f"min by (node) (up{sel})",
        "generation": f"max by (node) ({contract.M_CONFIG_GENERATION}{sel})",
        "pending": f"max by (node) ({contract.M_CONFIG_PENDING}{sel})",
        "links": f"count by (node) ({contract.M_LINK_UP}{sel})",
        "links_up": f"count by (node) ({contract.M_LINK_UP}{sel} == 1)",
        "links_down": f"group by (node, neighbor) ({contract.M_LINK_UP}{sel} != 1)",
        "verdict": f"group by (node, {finding}) ({contract.M_VERDICT}{sel} == 1)",
    }


Sample = tuple[dict[str, str], float]


def live_from_prometheus(
    base_url: str, timeout: float = 10.0, network: str | None = None
) -> dict[str, Live]:
    """The fleet as the NOC's Prometheus last scraped it: every agent it scrapes
    (job JOB_AGENTS; only `network`'s when given). NocUnreachable when Prometheus
    gives no usable answer, or scrapes no agent at all (the wrong Prometheus)."""
    queries = _queries(network)

    def ask(query: str) -> list[Sample]:
        answer = get_json(base_url, "/api/v1/query", {"query": query}, timeout)
        return vector(answer, base_url)

    with ThreadPoolExecutor(max_workers=len(queries)) as pool:
        answers = dict(zip(queries, pool.map(ask, queries.values()), strict=True))
    if not answers["up"]:
        raise NocUnreachable(
            f"{shown(base_url, 80)} scrapes no meshkeeper agent "
            f'(no up{{job="{contract.JOB_AGENTS}"}}): is it the NOC\'s Prometheus?'
        )
    return _join_vectors(answers)


def vector(answer: Any, base_url: str = "Prometheus") -> list[Sample]:
    """The samples of an instant query's answer ({"status": "success", "data":
    {"resultType": "vector", "result": [...]}}): (labels, value) each; a sample of
    any other shape is skipped, an answer of any other shape is NocUnreachable."""
    where = shown(base_url, 80)
    if not isinstance(answer, dict):
        raise NocUnreachable(f"{where} answered a query with something else than an object")
    if answer.get("status") != "success":
        why = answer.get("error")
        raise NocUnreachable(f"{where} refused a query: {shown(str(why), 200)}")
    data = answer.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        raise NocUnreachable(f"{where} answered a query with something else than a vector")
    result = data.get("result")
    if not isinstance(result, list):
        raise NocUnreachable(f"{where} answered a query with something else than a vector")
    samples = (_sample(item) for item in result)
    return [s for s in samples if s is not None]


def _sample(item: Any) -> Sample | None:
    if not isinstance(item, dict):
        return None
    labels, value = item.get("metric"), item.get("value")
    if not isinstance(labels, dict) or not isinstance(value, list) or len(value) != 2:
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        return None
    if not isinstance(value[1], str) or len(value[1]) > 64:
        return None
    try:
        number = float(value[1])  # Prometheus writes values as strings: "1", "NaN", "+Inf"
    except ValueError:
        return None
    return (labels, number) if labels.get("node") else None


def _by_node(samples: list[Sample], read: Callable[[float], Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for labels, value in samples:
        reading = read(value)
        if reading is not None:
            values[labels["node"]] = reading
    return values


def _whole(value: float) -> int | None:
    if not math.isfinite(value) or value != int(value) or not 0 <= value < 2**53:
        return None
    return int(value)


def _join_vectors(answers: dict[str, list[Sample]]) -> dict[str, Live]:
    up = _by_node(answers["up"], lambda v: v == 1)
    generation = _by_node(answers["generation"], _whole)
    pending = _by_node(answers["pending"], lambda v: v == 1)
    links = _by_node(answers["links"], _whole)
    links_up = _by_node(answers["links_up"], _whole)
    down: dict[str, list[str]] = {}
    for labels, _ in answers["links_down"]:
        down.setdefault(labels["node"], []).append(labels.get("neighbor") or "?")
    held: dict[str, list[str]] = {}
    for labels, _ in answers["verdict"]:
        held.setdefault(labels["node"], []).append(contract.finding_text(labels))
    return {
        node: Live(
            agent=UP,
            generation=generation.get(node),
            pending=pending.get(node),
            links_up=links_up.get(node, 0),
            links_expected=links.get(node, 0),
            links_down=tuple(sorted(set(down.get(node, ()))))[:MAX_NAMES],
            verdict=_held(held[node]) if node in held else None,
        )
        if is_up
        else Live(agent=DOWN)
        for node, is_up in up.items()
    }


# ------------------------------------------------------------------------ join


def fleet(
    inv_nodes: Mapping[str, str], states: list[NodeState], live: dict[str, Live] | None
) -> list[RouterStatus]:
    """One row per node of the inventory (name → role), in its order; then the nodes
    state.db or the live source still know that the inventory no longer has, by name.
    `live` None: not asked (push state only)."""
    known = {s.name: s for s in states}
    rows = [_row(name, role, True, known.get(name), live) for name, role in inv_nodes.items()]
    gone = (set(known) | set(live or ())) - set(inv_nodes)
    rows += [_row(name, "-", False, known.get(name), live) for name in sorted(gone)]
    return rows


def _row(
    node: str, role: str, in_inventory: bool, state: NodeState | None, live: dict[str, Live] | None
) -> RouterStatus:
    now = None if live is None else live.get(node, Live(agent=NOT_SCRAPED))
    reading = now is not None and now.agent == UP
    return RouterStatus(
        node=node,
        role=role,
        in_inventory=in_inventory,
        push=state.status if state else NEVER_PUSHED,
        pushed=state.generation if state else None,
        agent=now.agent if now else None,
        running=now.generation if now else None,
        config=_config(state, now),
        links_up=now.links_up if reading and now else None,
        links_expected=now.links_expected if reading and now else None,
        links_down=now.links_down if now else (),
        verdict=now.verdict if now else None,
        last_error=state.last_error if state else None,
    )


def _config(state: NodeState | None, now: Live | None) -> str:
    if now is None or now.agent != UP:
        return UNKNOWN
    if now.pending:
        return PENDING
    running = now.generation or 0  # the agent reports none until the first push
    pushed = state.generation if state else 0
    if running == pushed:
        return UNKNOWN if running == 0 else IN_SYNC
    side = "behind" if running < pushed else "ahead"
    return f"{side}: runs {running}, pushed {pushed}"


# --------------------------------------------------------------------- verdict


def failing(rows: list[RouterStatus]) -> bool:
    """Something needs a person: an agent down, an expected link down, a config not
    in sync, a push that failed (or rolled back, or drifted), a verdict but ok."""
    return any(failing_row(r) for r in rows)


def failing_row(r: RouterStatus) -> bool:
    return (
        r.agent not in _QUIET_AGENT
        or links_down(r) > 0
        or r.config not in (IN_SYNC, UNKNOWN)
        or r.push in FAILED_PUSH
        or bool(r.verdict)
    )


def links_down(r: RouterStatus) -> int:
    if r.links_up is None or r.links_expected is None:
        return 0
    return max(0, r.links_expected - r.links_up)


def fleet_json(rows: list[RouterStatus]) -> str:
    """Every field of every row, in a stable order (JSON escapes what agents said)."""
    return json.dumps([asdict(r) for r in rows], indent=2) + "\n"
