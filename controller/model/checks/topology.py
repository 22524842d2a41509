"""Links, paths to gateways, uplinks and the NOC's attachment."""

from __future__ import annotations

from collections import deque

from controller.model.checks.located import Found, at, at_node, node_todo
from controller.model.inventory import Inventory
from controller.model.messages import one_of
from controller.model.sources import Path


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
    yield from _noc_mail(inv)
    yield from _noc_tls(inv)
    yield from _noc_segments(inv)


def _noc_mail(inv: Inventory) -> Found:
    yield from _mail_templates(inv)
    if inv.noc.smtp is not None:
        return
    for name, receiver in sorted(inv.noc.receivers.items()):
        if receiver.email is not None:
            yield at(
                inv,
                ("noc", "receivers", name, "email"),
                "needs a mail server to send through",
                "add noc.smtp: {smarthost: HOST:PORT, sender: ADDRESS}",
            )


def _mail_templates(inv: Inventory) -> Found:
    """Alertmanager expands a mail's `to` and `from` as Go templates when it sends:
    an address holding '{{' would be one (a broken one: no mail at all)."""
    addresses: list[tuple[Path, str]] = [
        (("noc", "receivers", name, "email"), receiver.email)
        for name, receiver in sorted(inv.noc.receivers.items())
        if receiver.email is not None
    ]
    if inv.noc.smtp is not None:
        addresses.append((("noc", "smtp", "sender"), inv.noc.smtp.sender))
    for path, address in addresses:
        if "{{" in address:
            yield at(
                inv,
                path,
                "holds '{{', which Alertmanager reads as the start of a template",
                "write the plain e-mail address",
            )


def _noc_tls(inv: Inventory) -> Found:
    tls = inv.noc.scrape_tls
    for name, node in sorted(inv.nodes.items()):
        agent = node.agent
        if not agent.enabled or agent.tls is None:
            continue
        if tls is None:
            yield at_node(
                inv,
                name,
                ("agent", "tls"),
                "serves TLS, but the NOC has no CA to check it with",
                "add noc.scrape_tls: {ca_file: /path/on/the/noc/ca.crt}",
            )
            continue
        if agent.tls.client_ca is not None and tls.cert_file is None:
            yield at_node(
                inv,
                name,
                ("agent", "tls", "client_ca"),
                "asks scrapers for a client certificate the NOC does not have",
                "add noc.scrape_tls.cert_file and key_file",
            )


def _noc_segments(inv: Inventory) -> Found:
    owner: dict[str, str] = {}
    addresses = {str(inv.noc.address): "the NOC"}
    for segment, spec in sorted(inv.noc.segments.items()):
        where = ("noc", "segments", segment)
        if str(spec.address) in addresses:
            yield at(
                inv,
                (*where, "address"),
                f"is also {addresses[str(spec.address)]}'s address",
                "give each segment's Prometheus its own address",
            )
        addresses[str(spec.address)] = f"segment {segment}"
        for index, node in enumerate(spec.nodes):
            if not inv.declares(node):
                yield at(
                    inv,
                    (*where, "nodes", index),
                    f"names unknown node {node!r}",
                    node_todo(inv, node),
                )
            elif node in owner:
                yield at(
                    inv,
                    (*where, "nodes", index),
                    f"{node!r} is already in segment {owner[node]!r}",
                    "list each router in one segment only",
                )
            owner.setdefault(node, segment)
    if inv.noc.segments:
        for name in sorted(set(inv.nodes) - set(owner)):
            yield at(
                inv,
                ("noc", "segments"),
                f"router {name!r} is in no segment: no Prometheus would scrape it",
                "add it to one segment's nodes",
            )
