"""`wireless`: radios, access points and the 802.11s mesh interface.

The mesh interface sets `mesh_fwding '0'`: babel or batman-adv routes, not
802.11s's own HWMP. 19.07 and 21.02 name the band with `hwmode`, 22.03+ with
`band`.
"""

from __future__ import annotations

from collections.abc import Iterator

from controller.render.batman_adv import WIFI_HARDIF
from controller.render.context import MESH_IFNAME, NodeContext, section
from controller.render.network import LAN, MESH
from controller.secrets import MESH_KEY
from controller.uci import Section

PACKAGE = "wireless"
HWMODE = {"2g": "11g", "5g": "11a", "6g": "11a"}


def render(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    yield from _radios(ctx)
    if ctx.mesh_wifi:
        yield PACKAGE, _mesh_iface(ctx)
    for index, ap in enumerate(ctx.node.access_points):
        key = ctx.reveal(ap.key, PACKAGE, ap.encryption) if ap.key is not None else None
        for radio in ap.radios:
            yield (
                PACKAGE,
                section(
                    "wifi-iface",
                    f"ap{index}_{radio}",
                    device=radio,
                    mode="ap",
                    network=LAN,
                    ssid=ap.ssid,
                    encryption=ap.encryption,
                    key=key,
                    isolate=ap.isolate or None,
                    hidden=ap.hidden or None,
                ),
            )


def _radios(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    mesh = ctx.inv.mesh
    for name, radio in sorted(ctx.node.radios.items()):
        carries_mesh = ctx.mesh_wifi and ctx.node.mesh.radio == name
        channel = radio.channel if radio.channel is not None else mesh.channel
        htmode = radio.htmode or (mesh.htmode if carries_mesh else None)
        band = {"band": radio.band} if ctx.release >= (22, 3) else {"hwmode": HWMODE[radio.band]}
        yield (
            PACKAGE,
            section(
                "wifi-device",
                name,
                type="mac80211",
                path=radio.path,
                **band,
                channel=str(channel),
                htmode=htmode,
                country=ctx.inv.network.country,
                txpower=radio.txpower,
                distance=radio.distance,
                disabled=radio.disabled,
            ),
        )


def _mesh_iface(ctx: NodeContext) -> Section:
    mesh = ctx.inv.mesh
    key = ctx.reveal(mesh.key, PACKAGE, MESH_KEY) if mesh.key is not None else None
    network = WIFI_HARDIF if ctx.protocol == "batman-adv" else MESH
    return section(
        "wifi-iface",
        "mesh0",
        device=ctx.node.mesh.radio,
        mode="mesh",
        ifname=MESH_IFNAME,
        network=network,
        mesh_id=ctx.node.mesh.mesh_id or mesh.mesh_id,
        encryption="sae" if key is not None else "none",
        key=key,
        mesh_fwding=False,
    )
