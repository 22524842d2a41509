"""Honest state after the controller died mid-push: ask the router, not the database.

A push records `applying` before it touches a node and the outcome after. A
controller killed in between (laptop lid, power, Ctrl-C) leaves `applying` in
state.db for ever, while the router has long since been confirmed, rolled itself
back by its timer, or restored the old config at boot. `status` and `push` read
the router and settle the row from what it holds.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from controller.push.node import RouterView, describe_rollback, inspect
from controller.push.state import NodeState, StateStore
from controller.transport import KnownHosts, SshTarget, TransportError, connect


@dataclass(frozen=True)
class Settled:
    status: str
    generation: int
    applied_hash: str | None
    error: str | None


def settle(state: NodeState, view: RouterView) -> Settled:
    """What an `applying` row really is, given what the router holds."""
    if view.pending is not None:
        return Settled(
            "applying",
            view.generation,
            None,
            "a push is unconfirmed on the router: it restores its previous config by itself "
            "when its timer runs out (or at the next boot)",
        )
    if view.tree_hash is not None and view.tree_hash == state.rendered_hash:
        return Settled("applied", view.generation, view.tree_hash, None)
    said = describe_rollback(view.rollbacks[-1]) if view.rollbacks else "no rollback recorded"
    return Settled(
        "rolled_back",
        view.generation,
        None,
        f"the push was never confirmed; the router holds generation {view.generation} ({said})",
    )


def record(store: StateStore, state: NodeState, view: RouterView) -> None:
    outcome = settle(state, view)
    store.set_status(
        state.name,
        outcome.status,
        generation=outcome.generation,
        applied_hash=outcome.applied_hash,
        error=outcome.error,
    )


def reconcile_applying(
    store: StateStore, targets: dict[str, SshTarget], known_hosts: KnownHosts
) -> list[str]:
    """Ask every router left `applying` what it holds; names of those still unreachable."""
    stuck = [s for s in store.nodes() if s.status == "applying" and s.name in targets]

    def ask(state: NodeState) -> RouterView | None:
        try:
            with connect(targets[state.name], known_hosts) as ssh:
                return inspect(ssh, [])
        except TransportError:
            return None

    with ThreadPoolExecutor(max_workers=10) as pool:
        views = list(pool.map(ask, stuck))
    unreachable = []
    for state, view in zip(stuck, views, strict=True):
        if view is None:
            unreachable.append(state.name)
        else:
            record(store, state, view)
    return unreachable
