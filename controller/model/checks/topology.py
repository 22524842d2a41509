"""Links, paths to gateways, uplinks and the NOC's attachment."""

from __future__ import annotations

from collections import deque

from controller.model.checks.located import Found, at, at_node, node_todo
from controller.model.inventory import Inventory
from controller.model.messages import one_of


def check_links(inv: Inventory) -> Found:
    seen: dict[frozenset[str], int] = {}
    for index, link in enumerate(inv.links):
        for end in ("a", "b"):
            name = getattr(link, end)
            if not inv.declares(name):
                yield at(
                    inv,
                    ("links", index, end),
                    f"names unknown node {name!r}",
                    node_todo(inv, name),
                )
        if link.a == link.b:
            yield at(
                inv,
                ("links", index),
                f"links {link.a} to itself",
                "a link joins two different nodes",
            )
            continue
        pair = frozenset((link.a, link.b))
        if pair in seen:
            yield at(
                inv,
                ("links", index),
                f"repeats links[{seen[pair]}] ({link.a}–{link.b})",
                "list each link once",
            )
        seen.setdefault(pair, index)
        if link.medium == "wifi":
            for end in (link.a, link.b):
                node = inv.nodes.get(end)
                if node is not None and (not node.mesh.enabled or node.mesh.radio is None):
                    yield at(
                        inv,
                        ("links", index),
                        f"is a wifi link but {end} has no mesh radio",
                        f"set mesh.radio on {end} or make the link medium: ethernet",
                    )


def check_gateway_paths(inv: Inventory) -> Found:
    if inv.invalid_nodes:
        return  # roles and links of invalid nodes are unknown: judge paths once they are fixed
    gateways = [node.name for node in inv.gateways()]
    if not gateways:
        yield at(inv, ("nodes",), "the network has no gateway", "give a node role: gateway")
        return
    adjacency = inv.neighbours()
    reached = set(gateways)
    queue = deque(gateways)
    while queue:
        for other in adjacency[queue.popleft()] - reached:
            reached.add(other)
            queue.append(other)
    for name in sorted(set(inv.nodes) - reached):
        yield at_node(
            inv,
            name,
            (),
            "has no path to any gateway over the expected links",
            "add a link from it towards a gateway",
        )


def check_uplinks(inv: Inventory) -> Found:
    for name, node in sorted(inv.nodes.items()):
        if node.role == "gateway" and not node.uplinks:
            yield at_node(
                inv,
                name,
                ("uplinks",),
                "a gateway needs at least one uplink",
                "add an uplink (isp, proto) or give the node another role",
            )
        if node.role != "gateway" and node.uplinks:
            yield at_node(
                inv,
                name,
                ("uplinks",),
                f"a {node.role} has uplinks",
                "make it role: gateway or remove the uplinks",
            )
        for index, uplink in enumerate(node.uplinks):
            if uplink.isp not in inv.isps:
                yield at_node(
                    inv,
                    name,
                    ("uplinks", index, "isp"),
                    f"names unknown ISP {uplink.isp!r}",
                    one_of(uplink.isp, inv.isps, "isps"),
                )


def check_noc(inv: Inventory) -> Found:
    if not inv.declares(inv.noc.entry):
        yield at(
            inv,
            ("noc", "entry"),
            f"names unknown node {inv.noc.entry!r}",
            node_todo(inv, inv.noc.entry),
        )
    for index, route in enumerate(inv.noc.routes):
        if route.receiver not in inv.noc.receivers:
            yield at(
                inv,
                ("noc", "routes", index, "receiver"),
                f"names unknown receiver {route.receiver!r}",
                one_of(route.receiver, inv.noc.receivers, "receivers"),
            )
