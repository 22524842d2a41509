"""Network-wide checks: what no single field can know about itself.

Each check is a small function of the inventory returning located problems;
they are listed in CHECKS and all run, so the operator sees every problem.
"""

from __future__ import annotations

import ipaddress
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from controller.errors import Location, Problem
from controller.model import regdomain
from controller.model.inventory import Inventory
from controller.model.messages import one_of
from controller.model.plan import SlotConflict, capacity
from controller.model.schema import RELEASES
from controller.model.secret_checks import check_secrets
from controller.model.sources import Path, dotted

Found = Iterator[Problem]


def _at(inv: Inventory, path: Path, what: str, todo: str) -> Problem:
    return Problem(inv.sources.locate(path), dotted(path), what, todo)


@dataclass(frozen=True)
class NodeProblem(Problem):
    """A problem of one node; several nodes sharing one cause are reported once."""

    node: str = ""


def _at_node(inv: Inventory, name: str, path: Path, what: str, todo: str) -> Problem:
    location, shown = inv.sources.locate_layered(inv.node_layers(name), path)
    return NodeProblem(location, dotted(shown), what, todo, node=name)


def _merge_shared(found: list[Problem]) -> list[Problem]:
    """One line for a cause set in defaults or a profile, naming the nodes it affects."""
    groups: dict[tuple[Location, str, str, str], list[str]] = {}
    out: list[Problem] = []
    for problem in found:
        if isinstance(problem, NodeProblem) and not problem.field.startswith("nodes."):
            key = (problem.location, problem.field, problem.what, problem.todo)
            if key not in groups:
                groups[key] = []
                out.append(problem)
            groups[key].append(problem.node)
        else:
            out.append(problem)
    merged: list[Problem] = []
    for problem in out:
        if isinstance(problem, NodeProblem) and not problem.field.startswith("nodes."):
            nodes = groups[(problem.location, problem.field, problem.what, problem.todo)]
            shown = ", ".join(nodes[:5]) + (f" and {len(nodes) - 5} more" if len(nodes) > 5 else "")
            problem = Problem(
                problem.location,
                problem.field,
                f"{problem.what} (on {shown})",
                problem.todo,
            )
        merged.append(problem)
    return merged


def _node_todo(inv: Inventory, name: str) -> str:
    todo = one_of(name, [*inv.nodes, *inv.invalid_nodes], "nodes")
    return todo if todo.startswith("did you mean") else f"add the node or fix the name ({todo})"


def check_plan(inv: Inventory) -> Found:
    for issue in inv.plan_issues:
        field: Path = ("id",) if inv.nodes[issue.node].id is not None else ()
        if isinstance(issue, SlotConflict):
            yield _at_node(
                inv,
                issue.node,
                field,
                f"plans to address slot {issue.slot}, which node {issue.other} has",
                "give one of the two an explicit, unused `id`",
            )
        else:
            yield _at_node(
                inv,
                issue.node,
                field,
                f"slot {issue.slot} is beyond the {issue.capacity} slots the addressing pools hold",
                "use a smaller `id` or widen addressing.mesh / addressing.lan",
            )
    if capacity(inv.addressing) < 1:
        yield _at(
            inv,
            ("addressing",),
            "the pools hold no node slot",
            "widen addressing.mesh and addressing.lan or lower lan_prefix",
        )


def check_unique_addresses(inv: Inventory) -> Found:
    """Explicit addresses must not collide; planned ones collide only through a slot
    conflict, which check_plan reports once."""
    noc = ipaddress.IPv4Address(inv.noc.address)
    owners: dict[ipaddress.IPv4Address, tuple[str, Path | None]] = {}
    for name, plan in sorted(inv.plan.items()):
        node = inv.nodes[name]
        candidates: list[tuple[Path, ipaddress.IPv4Address, bool]] = [
            (("mesh_address",), plan.mesh_address, node.mesh_address is not None)
        ]
        if node.management is not None and plan.management != plan.mesh_address:
            candidates.append((("management",), plan.management, True))
        for field, address, explicit in candidates:
            if address == noc:
                if explicit:
                    yield _at_node(
                        inv,
                        name,
                        field,
                        f"address {address} is the NOC's address",
                        "give each node and the NOC its own address",
                    )
                else:
                    yield _at(
                        inv,
                        ("noc", "address"),
                        f"{address} is also the planned address of {name}",
                        "choose a NOC address outside the node slots (or give the node an id)",
                    )
                continue
            other = owners.get(address)
            if other is None:
                owners[address] = (name, field if explicit else None)
            elif other[0] != name and other[1] is not None:
                yield _at_node(
                    inv,
                    other[0],
                    other[1],
                    f"address {address} is also used by {name}",
                    "give each node and the NOC its own address",
                )
            elif other[0] != name and explicit:
                yield _at_node(
                    inv,
                    name,
                    field,
                    f"address {address} is also used by {other[0]}",
                    "give each node and the NOC its own address",
                )


def check_subnets(inv: Inventory) -> Found:
    mesh = ipaddress.IPv4Network(inv.addressing.mesh)
    lan_pool = ipaddress.IPv4Network(inv.addressing.lan)
    if mesh.overlaps(lan_pool):
        yield _at(
            inv,
            ("addressing", "lan"),
            f"overlaps the mesh pool {mesh}",
            "choose separate pools for mesh addresses and LANs",
        )
    spans = sorted((plan.lan_subnet, name) for name, plan in inv.plan.items())
    reach: tuple[ipaddress.IPv4Network, str] | None = None  # the LAN reaching furthest so far
    for net, name in spans:
        if reach is not None and net.network_address <= reach[0].broadcast_address:
            other_net, other = reach
            # Planned LANs only meet through a slot conflict, which check_plan reports.
            explicit = name if inv.nodes[name].lan.subnet else other
            if inv.nodes[explicit].lan.subnet:
                peer, peer_net = (other, other_net) if explicit == name else (name, net)
                yield _at_node(
                    inv,
                    explicit,
                    ("lan", "subnet"),
                    f"LAN {inv.plan[explicit].lan_subnet} overlaps the LAN {peer_net} of {peer}",
                    "give each node its own LAN subnet",
                )
        if reach is None or net.broadcast_address > reach[0].broadcast_address:
            reach = (net, name)
        if net.overlaps(mesh):
            yield _at_node(
                inv,
                name,
                ("lan", "subnet"),
                f"LAN {net} overlaps the mesh pool {mesh}",
                "move the LAN out of addressing.mesh",
            )
    for name, node in sorted(inv.nodes.items()):
        for index, uplink in enumerate(node.uplinks):
            if uplink.address is None:
                continue
            net = ipaddress.IPv4Interface(uplink.address).network
            if net.overlaps(mesh) or net.overlaps(lan_pool):
                yield _at_node(
                    inv,
                    name,
                    ("uplinks", index, "address"),
                    f"uplink network {net} overlaps the mesh or LAN pools",
                    "ask the ISP for another range or move the pools",
                )


def check_links(inv: Inventory) -> Found:
    seen: dict[frozenset[str], int] = {}
    for index, link in enumerate(inv.links):
        for end in ("a", "b"):
            name = getattr(link, end)
            if not inv.declares(name):
                yield _at(
                    inv,
                    ("links", index, end),
                    f"names unknown node {name!r}",
                    _node_todo(inv, name),
                )
        if link.a == link.b:
            yield _at(
                inv,
                ("links", index),
                f"links {link.a} to itself",
                "a link joins two different nodes",
            )
            continue
        pair = frozenset((link.a, link.b))
        if pair in seen:
            yield _at(
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
                    yield _at(
                        inv,
                        ("links", index),
                        f"is a wifi link but {end} has no mesh radio",
                        f"set mesh.radio on {end} or make the link medium: ethernet",
                    )


def check_mesh_agreement(inv: Inventory) -> Found:
    mesh = inv.mesh
    for name, node in sorted(inv.nodes.items()):
        if not node.mesh.enabled:
            continue
        for field, value in (("protocol", node.mesh.protocol), ("mesh_id", node.mesh.mesh_id)):
            wanted = getattr(mesh, field)
            if value is not None and value != wanted:
                yield _at_node(
                    inv,
                    name,
                    ("mesh", field),
                    f"{value!r} disagrees with mesh.{field} {wanted!r} of the other "
                    "nodes, so it would not mesh with them",
                    f"remove the override or change mesh.{field} everywhere",
                )
        if node.mesh.radio is None:
            if not node.mesh.ports:
                yield _at_node(
                    inv,
                    name,
                    ("mesh",),
                    "takes part in the mesh with no radio and no ports",
                    "set mesh.radio, mesh.ports, or mesh.enabled: false",
                )
            continue
        radio = node.radios.get(node.mesh.radio)
        if radio is None:
            yield _at_node(
                inv,
                name,
                ("mesh", "radio"),
                f"names radio {node.mesh.radio!r}, which the node does not have",
                one_of(node.mesh.radio or "", node.radios, "radios", suggest=False),
            )
            continue
        path: Path = ("radios", node.mesh.radio)
        if radio.band != mesh.band:
            yield _at_node(
                inv,
                name,
                ("mesh", "radio"),
                f"{node.mesh.radio} is on {radio.band} but the mesh is on {mesh.band}",
                "use a radio of the mesh's band for mesh.radio",
            )
        elif isinstance(radio.channel, int) and radio.channel != mesh.channel:
            yield _at_node(
                inv,
                name,
                (*path, "channel"),
                f"channel {radio.channel} carries the mesh, but the mesh is on channel "
                f"{mesh.channel}",
                "leave channel unset on the mesh radio, or match it",
            )
        elif radio.channel == "auto":
            yield _at_node(
                inv,
                name,
                (*path, "channel"),
                "is 'auto' on the mesh radio: mesh nodes must share a fixed channel",
                f"leave it unset (the mesh's {mesh.channel} is used) or set it",
            )


def check_channels(inv: Inventory) -> Found:
    country = inv.network.country
    if not regdomain.known_country(country):
        yield _at(
            inv,
            ("network", "country"),
            f"{country!r} is not a known regulatory domain",
            "use the ISO 3166 code of the country the routers are in",
        )
        return
    problem = regdomain.channel_problem(country, inv.mesh.band, inv.mesh.channel, inv.mesh.htmode)
    if problem:
        yield _at(inv, ("mesh", "channel"), problem, "choose a channel the country allows")
    for name, node in sorted(inv.nodes.items()):
        for radio_name, radio in node.radios.items():
            channel = radio.channel
            if radio.disabled or channel == "auto":
                continue
            if channel is None:
                if node.mesh.radio == radio_name:
                    continue  # inherits the mesh channel, checked above
                yield _at_node(
                    inv,
                    name,
                    ("radios", radio_name, "channel"),
                    "has no channel",
                    "set a channel or 'auto'",
                )
                continue
            htmode = radio.htmode or (inv.mesh.htmode if node.mesh.radio == radio_name else None)
            problem = regdomain.channel_problem(country, radio.band, channel, htmode)
            if problem:
                yield _at_node(
                    inv,
                    name,
                    ("radios", radio_name, "channel"),
                    problem,
                    "choose a channel the country allows",
                )


def check_access_points(inv: Inventory) -> Found:
    for name, node in sorted(inv.nodes.items()):
        for index, ap in enumerate(node.access_points):
            for radio in ap.radios:
                if radio not in node.radios:
                    yield _at_node(
                        inv,
                        name,
                        ("access_points", index, "radios"),
                        f"names radio {radio!r}, which the node does not have",
                        one_of(radio, node.radios, "radios", suggest=False),
                    )


def check_uplinks(inv: Inventory) -> Found:
    for name, node in sorted(inv.nodes.items()):
        if node.role == "gateway" and not node.uplinks:
            yield _at_node(
                inv,
                name,
                ("uplinks",),
                "a gateway needs at least one uplink",
                "add an uplink (isp, proto) or give the node another role",
            )
        if node.role != "gateway" and node.uplinks:
            yield _at_node(
                inv,
                name,
                ("uplinks",),
                f"a {node.role} has uplinks",
                "make it role: gateway or remove the uplinks",
            )
        for index, uplink in enumerate(node.uplinks):
            if uplink.isp not in inv.isps:
                yield _at_node(
                    inv,
                    name,
                    ("uplinks", index, "isp"),
                    f"names unknown ISP {uplink.isp!r}",
                    one_of(uplink.isp, inv.isps, "isps"),
                )


def check_gateway_paths(inv: Inventory) -> Found:
    if inv.invalid_nodes:
        return  # roles and links of invalid nodes are unknown: judge paths once they are fixed
    gateways = [node.name for node in inv.gateways()]
    if not gateways:
        yield _at(inv, ("nodes",), "the network has no gateway", "give a node role: gateway")
        return
    adjacency = inv.neighbours()
    reached = set(gateways)
    queue = deque(gateways)
    while queue:
        for other in adjacency[queue.popleft()] - reached:
            reached.add(other)
            queue.append(other)
    for name in sorted(set(inv.nodes) - reached):
        yield _at_node(
            inv,
            name,
            (),
            "has no path to any gateway over the expected links",
            "add a link from it towards a gateway",
        )


def check_releases(inv: Inventory) -> Found:
    for name, node in sorted(inv.nodes.items()):
        protocol = node.mesh.protocol or inv.mesh.protocol
        if node.release == "19.07" and node.mesh.enabled and protocol == "batman-adv":
            yield _at_node(
                inv,
                name,
                ("release",),
                "meshkeeper renders batman-adv only for 21.02+ (proto batadv_hardif)",
                f"upgrade the node, or use a supported release: {', '.join(RELEASES[1:])}",
            )


def check_timezone(inv: Inventory) -> Found:
    name = inv.network.timezone
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        yield _at(
            inv,
            ("network", "timezone"),
            f"{name!r} is not an IANA time zone",
            "use a name such as Africa/Nairobi or America/Sao_Paulo",
        )


def check_noc(inv: Inventory) -> Found:
    if not inv.declares(inv.noc.entry):
        yield _at(
            inv,
            ("noc", "entry"),
            f"names unknown node {inv.noc.entry!r}",
            _node_todo(inv, inv.noc.entry),
        )
    for index, route in enumerate(inv.noc.routes):
        if route.receiver not in inv.noc.receivers:
            yield _at(
                inv,
                ("noc", "routes", index, "receiver"),
                f"names unknown receiver {route.receiver!r}",
                one_of(route.receiver, inv.noc.receivers, "receivers"),
            )


def check_probes(inv: Inventory) -> Found:
    tiers = inv.probes.tiers
    for tier in ("isp", "domestic", "international", "platforms"):
        names: set[str] = set()
        for index, target in enumerate(getattr(tiers, tier)):
            path: Path = ("probes", "tiers", tier, index)
            if target.name in names:
                yield _at(
                    inv,
                    (*path, "name"),
                    f"repeats target name {target.name!r}",
                    "give each target of a tier its own name",
                )
            names.add(target.name)
            if target.isp is not None and target.isp not in inv.isps:
                yield _at(
                    inv,
                    (*path, "isp"),
                    f"names unknown ISP {target.isp!r}",
                    one_of(target.isp, inv.isps, "isps"),
                )


def check_ssh(inv: Inventory) -> Found:
    for name, node in sorted(inv.nodes.items()):
        if not node.ssh.authorized_keys:
            yield _at_node(
                inv,
                name,
                ("ssh", "authorized_keys"),
                "no key may log in: password login is off, so after a push nobody "
                "could reach this router",
                "list at least one public key",
            )


CHECKS: tuple[Callable[[Inventory], Found], ...] = (
    check_plan,
    check_unique_addresses,
    check_subnets,
    check_links,
    check_mesh_agreement,
    check_channels,
    check_access_points,
    check_uplinks,
    check_gateway_paths,
    check_releases,
    check_timezone,
    check_noc,
    check_probes,
    check_ssh,
)


def check_inventory(inv: Inventory, *, resolve_secrets: bool) -> list[Problem]:
    found = [problem for check in CHECKS for problem in check(inv)]
    if resolve_secrets:
        found.extend(check_secrets(inv, _at, _at_node))
    return _merge_shared(found)
