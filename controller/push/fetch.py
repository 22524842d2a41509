"""Read what each router holds, a few routers at a time, and say what a push would
change there: for `meshkeeper diff` and `meshkeeper push --dry-run`.

A look is read-only: one login, the inspect push itself starts with, and a
tar stream of the managed files. Whether the router differs is decided by
`plan.differences`, the test push uses. One router that cannot be reached, or
that answers garbage, is that router's one line; the others go on.
"""

from __future__ import annotations

import tarfile
from concurrent.futures import ThreadPoolExecutor

from controller.model.inventory import Inventory
from controller.push import remote
from controller.push.diff import NodeDiff, node_diff, unpack
from controller.push.node import inspect
from controller.push.plan import NodeChange, differences, select, state_dir, target_for, tree_hash
from controller.push.state import StateStore
from controller.render.tree import render_inventory
from controller.transport import KnownHosts, TransportError, connect

NOT_CONNECTED = "did not connect: "
NOT_READ = "connected, but could not read it: "


def read_router(change: NodeChange, known_hosts: KnownHosts, *, accept_new: bool) -> NodeDiff:
    """What a push of `change` would change on its router (TransportError when the
    router cannot be asked: message starting NOT_CONNECTED or NOT_READ)."""
    paths = [f.path for f in change.files]
    try:
        transport = connect(change.target, known_hosts, accept_new=accept_new)
        transport.open()
    except TransportError as exc:
        raise TransportError(change.node, NOT_CONNECTED + _reason(exc)) from exc
    with transport as ssh:
        try:
            view = inspect(ssh, paths)
            archive = ssh.run(remote.fetch(paths), timeout=30).stdout
        except TransportError as exc:
            raise TransportError(change.node, NOT_READ + _reason(exc)) from exc
    try:
        router = unpack(archive)
    except tarfile.TarError as exc:
        raise TransportError(
            change.node,
            "could not compare its files (the router's answer is not a tar stream) — "
            "a push replaces them",
        ) from exc
    return node_diff(change.node, list(change.files), router, differences(change, view), view)


def _reason(exc: TransportError) -> str:
    return str(exc).removeprefix(f"node {exc.node}: ")


def compare(
    changes: dict[str, NodeChange],
    known_hosts: KnownHosts,
    *,
    accept_new: bool = False,
    concurrency: int = 10,
) -> tuple[list[NodeDiff], dict[str, str]]:
    """Each router's NodeDiff, or why there is none (node → one line)."""

    def one(node: str) -> NodeDiff | str:
        try:
            return read_router(changes[node], known_hosts, accept_new=accept_new)
        except TransportError as exc:
            return _reason(exc)
        except Exception as exc:  # noqa: BLE001 - one router's answer is that router's one line
            # the type alone: the text of an error about a router's file may quote the file
            return f"could not compare its files ({type(exc).__name__}) — a push replaces them"

    diffs: list[NodeDiff] = []
    errors: dict[str, str] = {}
    nodes = sorted(changes)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for node, outcome in zip(nodes, pool.map(one, nodes), strict=True):
            if isinstance(outcome, str):
                errors[node] = outcome
            else:
                diffs.append(outcome)
    return diffs, errors


def fetch_diffs(
    inv: Inventory, limit: tuple[str, ...], *, accept_new: bool = False, concurrency: int = 10
) -> tuple[list[NodeDiff], dict[str, str]]:
    nodes = select(inv, limit)
    rendered = render_inventory(inv, nodes)
    changes = {}
    for node in nodes:
        files = tuple(rendered[node])
        changes[node] = NodeChange(node, files, tree_hash(files), target_for(inv, node))
    known_hosts = KnownHosts(state_dir(inv) / "known_hosts")
    diffs, errors = compare(changes, known_hosts, accept_new=accept_new, concurrency=concurrency)
    _mark_drift(inv, diffs)
    return diffs, errors


def _mark_drift(inv: Inventory, diffs: list[NodeDiff]) -> None:
    """A node pushed and confirmed whose files no longer match is `drifted` (hand edits)."""
    with StateStore(state_dir(inv) / "state.db") as store:
        known = {s.name: s for s in store.nodes()}
        for diff in diffs:
            state = known.get(diff.node)
            if state is None:
                continue
            if (
                not diff.in_sync
                and state.status == "applied"
                and state.applied_hash == state.rendered_hash
            ):
                store.set_status(diff.node, "drifted", error="files on the router were edited")
            elif diff.in_sync and state.status == "drifted":
                store.set_status(diff.node, "applied")
