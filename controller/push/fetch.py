"""Read what each router holds (for `meshkeeper diff`), a few routers at a time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from controller.model.inventory import Inventory
from controller.push import remote
from controller.push.diff import NodeDiff, diff_node, unpack
from controller.push.plan import target_for
from controller.push.run import select, state_dir
from controller.push.state import StateStore
from controller.render.tree import RenderedFile, render_inventory
from controller.transport import KnownHosts, TransportError, connect


def fetch_diffs(
    inv: Inventory, limit: tuple[str, ...], *, accept_new: bool = False, concurrency: int = 10
) -> tuple[list[NodeDiff], dict[str, str]]:
    nodes = select(inv, limit)
    rendered = render_inventory(inv, nodes)
    known_hosts = KnownHosts(state_dir(inv) / "known_hosts")

    def one(node: str) -> NodeDiff | str:
        files: list[RenderedFile] = rendered[node]
        try:
            with connect(target_for(inv, node), known_hosts, accept_new=accept_new) as ssh:
                archive = ssh.run(remote.fetch([f.path for f in files]), timeout=30).stdout
        except TransportError as exc:
            return str(exc)
        return diff_node(node, files, unpack(archive))

    diffs: list[NodeDiff] = []
    errors: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for node, outcome in zip(nodes, pool.map(one, nodes), strict=True):
            if isinstance(outcome, str):
                errors[node] = outcome
            else:
                diffs.append(outcome)
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
