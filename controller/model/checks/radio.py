"""The mesh's radio settings agree, and every channel is legal where the routers are."""

from __future__ import annotations

from controller.model import regdomain
from controller.model.checks.located import Found, at, at_node
from controller.model.inventory import Inventory
from controller.model.messages import one_of
from controller.model.sources import Path


def check_mesh_agreement(inv: Inventory) -> Found:
    mesh = inv.mesh
    for name, node in sorted(inv.nodes.items()):
        if not node.mesh.enabled:
            continue
        for field, value in (("protocol", node.mesh.protocol), ("mesh_id", node.mesh.mesh_id)):
            wanted = getattr(mesh, field)
            if value is not None and value != wanted:
                yield at_node(
                    inv,
                    name,
                    ("mesh", field),
                    f"{value!r} disagrees with mesh.{field} {wanted!r} of the other "
                    "nodes, so it would not mesh with them",
                    f"remove the override or change mesh.{field} everywhere",
                )
        if node.mesh.radio is None:
            if not node.mesh.ports:
                yield at_node(
                    inv,
                    name,
                    ("mesh",),
                    "takes part in the mesh with no radio and no ports",
                    "set mesh.radio, mesh.ports, or mesh.enabled: false",
                )
            continue
        radio = node.radios.get(node.mesh.radio)
        if radio is None:
            yield at_node(
                inv,
                name,
                ("mesh", "radio"),
                f"names radio {node.mesh.radio!r}, which the node does not have",
                one_of(node.mesh.radio or "", node.radios, "radios", suggest=False),
            )
            continue
        path: Path = ("radios", node.mesh.radio)
        if radio.band != mesh.band:
            yield at_node(
                inv,
                name,
                ("mesh", "radio"),
                f"{node.mesh.radio} is on {radio.band} but the mesh is on {mesh.band}",
                "use a radio of the mesh's band for mesh.radio",
            )
        elif isinstance(radio.channel, int) and radio.channel != mesh.channel:
            yield at_node(
                inv,
                name,
                (*path, "channel"),
                f"channel {radio.channel} carries the mesh, but the mesh is on channel "
                f"{mesh.channel}",
                "leave channel unset on the mesh radio, or match it",
            )
        elif radio.channel == "auto":
            yield at_node(
                inv,
                name,
                (*path, "channel"),
                "is 'auto' on the mesh radio: mesh nodes must share a fixed channel",
                f"leave it unset (the mesh's {mesh.channel} is used) or set it",
            )


def check_channels(inv: Inventory) -> Found:
    country = inv.network.country
    if not regdomain.known_country(country):
        yield at(
            inv,
            ("network", "country"),
            f"{country!r} is not a known regulatory domain",
            "use the ISO 3166 code of the country the routers are in",
        )
        return
    problem = regdomain.channel_problem(country, inv.mesh.band, inv.mesh.channel, inv.mesh.htmode)
    if problem:
        yield at(inv, ("mesh", "channel"), problem, "choose a channel the country allows")
    for name, node in sorted(inv.nodes.items()):
        for radio_name, radio in node.radios.items():
            channel = radio.channel
            if radio.disabled or channel == "auto":
                continue
            if channel is None:
                if node.mesh.radio == radio_name:
                    continue  # inherits the mesh channel, checked above
                yield at_node(
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
                yield at_node(
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
                    yield at_node(
                        inv,
                        name,
                        ("access_points", index, "radios"),
                        f"names radio {radio!r}, which the node does not have",
                        one_of(radio, node.radios, "radios", suggest=False),
                    )
