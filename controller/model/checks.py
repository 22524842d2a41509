"""Network-wide checks: what no single field can know about itself.

Each check is a small function of the inventory returning located problems;
they are listed in CHECKS and all run, so the operator sees every problem.
"""

from __future__ import annotations

import ipaddress
import itertools
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterator

from controller.errors import Problem, SecretError
from controller.model import regdomain
from controller.model.inventory import Inventory
from controller.model.plan import SlotConflict, capacity
from controller.model.schema import RELEASES
from controller.model.sources import Path, dotted
from controller.model.types import EnvSecret, FileSecret
from controller.secrets import resolve

Found = Iterator[Problem]


def _at(inv: Inventory, path: Path, what: str, todo: str) -> Problem:
    return Problem(inv.sources.locate(path), dotted(path), what, todo)


def _at_node(inv: Inventory, name: str, path: Path, what: str, todo: str) -> Problem:
    location, shown = inv.sources.locate_layered(inv.node_layers(name), path)
    return Problem(location, dotted(shown), what, todo)


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
    owners: dict[ipaddress.IPv4Address, str] = {ipaddress.IPv4Address(inv.noc.address): "the NOC"}
    for name, plan in sorted(inv.plan.items()):
        fields = (("mesh_address",), ("management",))
        for field, address in zip(fields, (plan.mesh_address, plan.management), strict=True):
            other = owners.get(address)
            if other is not None and other != name:
                yield _at_node(
                    inv,
                    name,
                    field,
                    f"address {address} is also used by {other}",
                    "give each node and the NOC its own address",
                )
            owners.setdefault(address, name)


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
    for (net, name), (next_net, next_name) in itertools.pairwise(spans):
        if net.overlaps(next_net):
            yield _at_node(
                inv,
                next_name,
                ("lan", "subnet"),
                f"LAN {next_net} overlaps the LAN {net} of {name}",
                "give each node its own LAN subnet (or drop lan.subnet to plan it)",
            )
    for net, name in spans:
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
                    "add the node or fix the name",
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
                f"repeats link {seen[pair]} ({link.a}–{link.b})",
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
                f"use one of: {', '.join(node.radios) or 'define radios first'}",
            )
            continue
        path: Path = ("radios", node.mesh.radio)
        if radio.band != mesh.band:
            yield _at_node(
                inv,
                name,
                (*path, "band"),
                f"carries the mesh on {radio.band} but the mesh is on {mesh.band}",
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
                        f"use one of: {', '.join(node.radios) or 'define radios first'}",
                    )


def check_uplinks(inv: Inventory) -> Found:
    for name, node in sorted(inv.nodes.items()):
        if node.role == "gateway" and not node.uplinks:
            yield _at_node(
                inv,
                name,
                ("role",),
                "is a gateway without uplinks",
                "add an uplink (isp, proto) or give it another role",
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
                    f"use one of: {', '.join(inv.isps) or 'define isps first'}",
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
            "name the node the NOC is plugged into",
        )
    for index, route in enumerate(inv.noc.routes):
        if route.receiver not in inv.noc.receivers:
            yield _at(
                inv,
                ("noc", "routes", index, "receiver"),
                f"names unknown receiver {route.receiver!r}",
                f"use one of: {', '.join(inv.noc.receivers) or 'define receivers first'}",
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
                    f"use one of: {', '.join(inv.isps) or 'define isps first'}",
                )


def _key_problem(secret: str, encryption: str) -> str | None:
    if (
        encryption == "psk2"
        and len(secret) == 64
        and all(c in "0123456789abcdefABCDEF" for c in secret)
    ):
        return None  # a raw 256-bit PSK in hex
    if not 8 <= len(secret) <= 63:
        return f"is {len(secret)} characters; {encryption} needs a passphrase of 8 to 63 characters"
    return None


def check_secrets(inv: Inventory) -> Found:
    """Resolve every secret (nothing is printed) to check it exists and is long enough."""
    refs: list[tuple[Path, str, EnvSecret | FileSecret, str | None]] = []
    if inv.mesh.key is not None:
        refs.append((("mesh", "key"), "", inv.mesh.key, "sae"))
    for name, node in sorted(inv.nodes.items()):
        for index, ap in enumerate(node.access_points):
            if ap.key is not None:
                refs.append((("access_points", index, "key"), name, ap.key, ap.encryption))
        for index, uplink in enumerate(node.uplinks):
            if uplink.password is not None:
                refs.append((("uplinks", index, "password"), name, uplink.password, None))
    for receiver, spec in sorted(inv.noc.receivers.items()):
        if spec.webhook is not None:
            refs.append((("noc", "receivers", receiver, "webhook"), "", spec.webhook, None))
    checked: dict[EnvSecret | FileSecret, str | SecretError] = {}
    for path, owner, ref, encryption in refs:
        if ref not in checked:
            try:
                checked[ref] = resolve(ref, inv.root).reveal()
            except SecretError as exc:
                checked[ref] = exc
        result = checked[ref]
        if isinstance(result, SecretError):
            what, _, todo = str(result).partition(" — ")
            problem = (what, todo)
        elif encryption is not None and (short := _key_problem(result, encryption)):
            problem = (short, "use a longer key")
        else:
            continue
        if owner:
            yield _at_node(inv, owner, path, *problem)
        else:
            yield _at(inv, path, *problem)


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
)


def check_inventory(inv: Inventory, *, resolve_secrets: bool) -> list[Problem]:
    found = [problem for check in CHECKS for problem in check(inv)]
    if resolve_secrets:
        found.extend(check_secrets(inv))
    return found
