"""Read what each router holds (for `meshkeeper diff`), a few routers at a time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from controller.model.inventory import Inventory
from controller.push import remote
from controller.push.diff import NodeDiff, diff_node, unpack
from controller.push.plan import target_for
from controller.push.run import select, state_dir
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
    return diffs, errors
