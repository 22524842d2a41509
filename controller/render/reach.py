"""Will the controller still reach SSH on a node after a push? Asked of the renderers.

dropbear listens on every address (dropbear.py), so SSH is reachable where
the management address is on an interface that really exists and the
firewall zone of that interface accepts the SSH port. Both answers come from
the same functions the network and firewall renderers write the files with
(network.management_carriers, firewall.zone_networks, firewall.tcp_input_verdict),
never from a second copy of their rules, and cost microseconds per node:
`meshkeeper check` asks them for every node.
"""

from __future__ import annotations

from typing import NamedTuple

from controller.render.context import NodeContext
from controller.render.firewall import tcp_input_verdict, zone_networks
from controller.render.network import MESH, OwnInterface, management_carriers


class SshPath(NamedTuple):
    """One interface carrying the management address, as the controller would meet it."""

    interface: str
    device: str | None
    usable: bool  # it has a device (babel's `mesh`: an enabled mesh radio joins it)
    zone: str | None
    verdict: str  # the firewall's answer to the SSH port: ACCEPT, REJECT or DROP


def mesh_radio_up(ctx: NodeContext) -> bool:
    """The node's mesh radio exists and is enabled: the 802.11s interface joins `mesh`."""
    radio = ctx.node.radios.get(ctx.node.mesh.radio or "")
    return ctx.mesh_wifi and radio is not None and not radio.disabled


def _usable(ctx: NodeContext, own: OwnInterface) -> bool:
    if own.device is not None:
        return True
    return own.name == MESH and mesh_radio_up(ctx)


def ssh_paths(ctx: NodeContext) -> list[SshPath]:
    port = ctx.node.ssh.port
    zones = zone_networks(ctx)
    paths = []
    for own in management_carriers(ctx):
        zone = next((z for z, networks in zones.items() if own.name in networks), None)
        verdict = tcp_input_verdict(ctx, zone, port)
        paths.append(SshPath(own.name, own.device, _usable(ctx, own), zone, verdict))
    return paths
