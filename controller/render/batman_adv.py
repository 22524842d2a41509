"""batman-adv (21.02+): `proto batadv` (bat0) and a `proto batadv_hardif` per mesh
radio or port, in the `network` package (../shared/FIELD-NOTES.md).

batman-adv is one Layer-2 segment: every node's mesh address sits on bat0
with the pool's netmask. LANs stay routed: each node gets a static route to
every other node's LAN over bat0, and non-gateways a default route via the
gateway nearest to them over the inventory's links. (babel learns all of this
dynamically; with batman-adv the inventory is the routing table.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from controller.render.context import NodeContext, section, uci_name
from controller.uci import Section

PACKAGE = "network"
BAT = "bat0"
WIFI_HARDIF = "batmesh"


def hardif_for_port(port: str) -> str:
    return f"bat_{uci_name(port)}"


def render(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    if not ctx.meshed or ctx.protocol != "batman-adv":
        return
    yield (
        PACKAGE,
        section(
            "interface",
            BAT,
            proto="batadv",
            routing_algo="BATMAN_IV",
            gw_mode="server" if ctx.gateway else "client",
            bridge_loop_avoidance=True,
        ),
    )
    if ctx.mesh_wifi:
        # The 802.11s interface joins this one through wireless (network 'batmesh').
        yield (
            PACKAGE,
            section("interface", WIFI_HARDIF, proto="batadv_hardif", master=BAT, mtu=1536),
        )
    for port in ctx.mesh_ports:
        yield (
            PACKAGE,
            section(
                "interface",
                hardif_for_port(port),
                device=port,
                proto="batadv_hardif",
                master=BAT,
                mtu=1536,
            ),
        )
    yield from _routes(ctx)


def _routes(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    plans = ctx.inv.plan
    for name in sorted(plans):
        node = ctx.inv.nodes[name]
        if name == ctx.node.name or not node.mesh.enabled:
            continue
        plan = plans[name]
        yield (
            PACKAGE,
            section(
                "route",
                f"lan_{uci_name(name)}",
                interface="mesh",
                target=str(plan.lan_subnet.network_address),
                netmask=str(plan.lan_subnet.netmask),
                gateway=str(plan.mesh_address),
            ),
        )
    if not ctx.gateway:
        gateway = nearest_gateway(ctx)
        if gateway is not None:
            yield (
                PACKAGE,
                section(
                    "route",
                    "default_via_mesh",
                    interface="mesh",
                    target="0.0.0.0",
                    netmask="0.0.0.0",
                    gateway=str(ctx.inv.plan[gateway].mesh_address),
                ),
            )


def nearest_gateway(ctx: NodeContext) -> str | None:
    """Fewest hops over expected links; ties go to the alphabetically first."""
    adjacency = ctx.inv.neighbours()
    seen = {ctx.node.name}
    frontier = deque([ctx.node.name])
    while frontier:
        level = sorted(frontier)
        frontier.clear()
        gateways = [n for n in level if ctx.inv.nodes[n].role == "gateway"]
        if gateways:
            return gateways[0]
        for name in level:
            for other in sorted(adjacency[name] - seen):
                seen.add(other)
                frontier.append(other)
    return None
