"""Push order: a push never cuts the branch it is sitting on.

Nodes farthest (in hops over the inventory's links) from the controller's
entry point go first, the entry node last; nodes at the same depth form a
wave pushed in parallel. A node that fails (rolled back, unreachable) takes
out every node that can only be reached through it: those are skipped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping


def depths(adjacency: Mapping[str, set[str]], entry: str) -> dict[str, int]:
    """Hops from `entry`; nodes it cannot reach are absent."""
    seen = {entry: 0}
    queue = deque([entry])
    while queue:
        here = queue.popleft()
        for other in sorted(adjacency.get(here, ())):
            if other not in seen:
                seen[other] = seen[here] + 1
                queue.append(other)
    return seen


def waves(adjacency: Mapping[str, set[str]], entry: str, nodes: Iterable[str]) -> list[list[str]]:
    """`nodes` grouped by depth, deepest first; unreachable nodes form a last, lone wave
    (they can still be tried directly: a router may have a path the inventory lacks)."""
    hops = depths(adjacency, entry)
    wanted = sorted(set(nodes))
    levels: dict[int, list[str]] = {}
    for node in wanted:
        levels.setdefault(hops.get(node, -1), []).append(node)
    ordered = [levels[d] for d in sorted((d for d in levels if d >= 0), reverse=True)]
    if -1 in levels:
        ordered.append(levels[-1])
    return ordered


def cut_off(
    adjacency: Mapping[str, set[str]], entry: str, failed: set[str], candidates: Iterable[str]
) -> set[str]:
    """Candidates that no longer reach `entry` without passing through a failed node."""
    if entry in failed:
        return set(candidates)
    reach = depths(
        {n: {m for m in adj if m not in failed} for n, adj in adjacency.items() if n not in failed},
        entry,
    )
    full = depths(adjacency, entry)
    return {c for c in candidates if c in full and c not in reach and c not in failed}
