"""A push over many nodes: waves by depth, concurrency, canary, a lock, the state store.

meshkeeper push → render → for each wave (deepest first): push its nodes in
parallel (up to --concurrency) → record each result → skip what a failure
cut off → a result per node, never a stop at the first failure (but a
failing canary stops everything after it).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from controller.errors import MeshkeeperError
from controller.model.inventory import Inventory
from controller.push.fetch import compare
from controller.push.node import NodeResult, Progress, inspect, push_node
from controller.push.order import cut_off, waves
from controller.push.plan import NodeChange, differences, target_for, tree_hash
from controller.push.plan import select as select
from controller.push.plan import state_dir as state_dir
from controller.push.reconcile import reconcile_applying
from controller.push.state import StateStore
from controller.render.tree import render_inventory
from controller.transport import KnownHosts, SshTarget, TransportError, connect

FAILED = ("rolled_back", "unreachable", "failed")


@dataclass(frozen=True)
class PushOptions:
    limit: tuple[str, ...] = ()
    dry_run: bool = False
    concurrency: int = 10
    confirm_timeout: int = 60
    canary: int = 0
    accept_new: bool = False


@contextmanager
def push_lock(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "push.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise MeshkeeperError(
                f"another push is running on this inventory ({holder}) — "
                f"wait for it, or remove {path} if that process is gone"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)


def push(
    inv: Inventory,
    options: PushOptions,
    progress: Progress | None = None,
    on_result: Callable[[NodeResult], None] | None = None,
) -> list[NodeResult]:
    folder = state_dir(inv)
    with push_lock(folder), StateStore(folder / "state.db") as store:
        nodes = select(inv, options.limit)
        rendered = render_inventory(inv, nodes)
        changes = {}
        for name in nodes:
            files = tuple(rendered[name])
            changes[name] = NodeChange(name, files, tree_hash(files), target_for(inv, name))
            store.set_rendered(name, changes[name].tree_hash)
        known_hosts = KnownHosts(folder / "known_hosts")
        if options.dry_run:
            return dry_run(changes, known_hosts, options)
        reconcile_applying(store, {n: c.target for n, c in changes.items()}, known_hosts)
        adjacency = inv.neighbours()
        results: list[NodeResult] = []
        # One flat, parallel look first: routers already in sync are done without
        # waiting for their wave; only the others are pushed in topology order.
        pending = []
        for result in _check_all(changes, known_hosts, options):
            if result is None:
                continue
            if result.result == "unchanged":
                _record(store, changes[result.node], result)
                results.append(result)
                if on_result:
                    on_result(result)
            else:
                pending.append(result.node)
        nodes = [n for n in nodes if n in pending]
        ordered = waves(adjacency, inv.noc.entry, nodes)
        if options.canary:
            flat = [n for wave in ordered for n in wave]
            canary = flat[: options.canary]
            ordered = [[n] for n in canary] + [[n for n in w if n not in canary] for w in ordered]
            ordered = [w for w in ordered if w]
        failed: set[str] = set()
        stop = False
        pushed = 0
        for wave in ordered:
            blocked = cut_off(adjacency, inv.noc.entry, failed, wave) if failed else set()
            todo = [n for n in wave if n not in blocked and not stop]
            for name in wave:
                if name not in todo:
                    why = (
                        "canary failed"
                        if stop
                        else f"behind a failed node ({', '.join(sorted(failed))})"
                    )
                    skipped = NodeResult(name, "skipped", error=why)
                    results.append(skipped)
                    if on_result:
                        on_result(skipped)
            with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
                for name in todo:
                    store.set_status(name, "applying")

                def one(name: str) -> NodeResult:
                    return push_node(
                        changes[name],
                        known_hosts,
                        accept_new=options.accept_new,
                        confirm_timeout=options.confirm_timeout,
                        new_target=changes[name].target,
                        progress=progress,
                    )

                for result in pool.map(one, todo):
                    _record(store, changes[result.node], result)
                    results.append(result)
                    if on_result:
                        on_result(result)
                    if result.result in FAILED:
                        failed.add(result.node)
            pushed += len(todo)
            if options.canary and pushed <= options.canary and failed:
                stop = True
        return results


def adopt(
    inv: Inventory,
    node: str,
    via: SshTarget,
    options: PushOptions,
    progress: Progress | None = None,
) -> NodeResult:
    """Push one node reached at its current address (`via`: a factory router's LAN
    address, or the address a push is about to move). Verified and confirmed at the
    address the new config gives it; rolled back (at `via`) if it is not reachable there."""
    if node not in inv.nodes:
        raise MeshkeeperError(
            f"no node {node!r} in the inventory — see `meshkeeper inventory show`"
        )
    folder = state_dir(inv)
    with push_lock(folder), StateStore(folder / "state.db") as store:
        files = tuple(render_inventory(inv, [node])[node])
        planned = target_for(inv, node)
        change = NodeChange(node, files, tree_hash(files), via)
        store.set_rendered(node, change.tree_hash)
        known_hosts = KnownHosts(folder / "known_hosts")
        _carry_host_key(via, planned, known_hosts, options.accept_new)
        store.set_status(node, "applying")
        result = push_node(
            change,
            known_hosts,
            accept_new=options.accept_new,
            confirm_timeout=options.confirm_timeout,
            new_target=planned,
            progress=progress,
        )
        _record(store, change, result)
        return result


def _carry_host_key(
    via: SshTarget, planned: SshTarget, known_hosts: KnownHosts, accept_new: bool
) -> None:
    """The router keeps its host key when its address moves: the key it shows at `via`
    (checked strictly, or accepted with --accept-new-host-keys) is the one it must show
    at the planned address."""
    if via.address == planned.address or via.pinned is not None:
        return
    try:
        with connect(via, known_hosts, accept_new=accept_new):
            pass
    except TransportError:
        return  # push_node reports why it cannot connect
    keys = [e.key for e in known_hosts.lookup(via.host, via.port)]
    if keys and not known_hosts.lookup(planned.host, planned.port):
        known_hosts.add(planned.host, planned.port, keys[0])


def dry_run(
    changes: dict[str, NodeChange], known_hosts: KnownHosts, options: PushOptions
) -> list[NodeResult]:
    """Per router, what a push would change, read as `diff` reads it (touching
    nothing): `would push` with the changes, `unchanged`, or `not checked` and why
    (a router not reached is said to be, never guessed at)."""
    diffs, errors = compare(
        changes, known_hosts, accept_new=options.accept_new, concurrency=options.concurrency
    )
    results = [
        NodeResult(d.node, "unchanged", d.generation)
        if d.in_sync
        else NodeResult(
            d.node, "would push", d.generation, changed=[f"{k} {t}" for k, t in d.lines]
        )
        for d in diffs
    ]
    results += [NodeResult(n, "not checked", error=why) for n, why in errors.items()]
    return sorted(results, key=lambda r: r.node)


def _check_all(
    changes: dict[str, NodeChange], known_hosts: KnownHosts, options: PushOptions
) -> list[NodeResult | None]:
    """`unchanged` for routers already on their rendered tree (`plan.differences`
    finds nothing, as `diff` would say); `pending` for the rest (unreachable ones
    too: their push reports why, in order)."""

    def one(name: str) -> NodeResult:
        change = changes[name]
        start = time.monotonic()
        try:
            with connect(change.target, known_hosts, accept_new=options.accept_new) as ssh:
                view = inspect(ssh, [f.path for f in change.files])
        except Exception:  # noqa: BLE001 - unreachable, or an odd answer: its push reports why
            return NodeResult(name, "pending")
        if not differences(change, view):
            return NodeResult(name, "unchanged", view.generation, time.monotonic() - start)
        return NodeResult(name, "pending")

    with ThreadPoolExecutor(max_workers=max(1, 2 * options.concurrency)) as pool:
        return list(pool.map(one, sorted(changes)))


def _record(store: StateStore, change: NodeChange, result: NodeResult) -> None:
    status = {
        "applied": "applied",
        "unchanged": "applied",
        "rolled_back": "rolled_back",
        "unreachable": "unreachable",
        "failed": "failed",
    }[result.result]
    applied = change.tree_hash if result.result in ("applied", "unchanged") else None
    store.set_status(
        result.node,
        status,
        generation=result.generation or None,
        applied_hash=applied,
        error=result.error,
    )
    if result.result != "unchanged":
        store.record_push(
            result.node,
            time.time() - result.duration,
            result.duration,
            result.result,
            result.generation,
            result.changed,
            result.error,
        )
