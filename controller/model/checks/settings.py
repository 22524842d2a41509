"""Releases, time zone, probe targets and SSH access."""

from __future__ import annotations

import zoneinfo

from controller.model.checks.located import Found, at, at_node
from controller.model.inventory import Inventory
from controller.model.messages import one_of
from controller.model.schema import RELEASES
from controller.model.sources import Path


def check_releases(inv: Inventory) -> Found:
    for name, node in sorted(inv.nodes.items()):
        protocol = node.mesh.protocol or inv.mesh.protocol
        if node.release == "19.07" and node.mesh.enabled and protocol == "batman-adv":
            yield at_node(
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
        yield at(
            inv,
            ("network", "timezone"),
            f"{name!r} is not an IANA time zone",
            "use a name such as Africa/Nairobi or America/Sao_Paulo",
        )


def check_probes(inv: Inventory) -> Found:
    tiers = inv.probes.tiers
    for tier in ("isp", "domestic", "international", "platforms"):
        names: set[str] = set()
        for index, target in enumerate(getattr(tiers, tier)):
            path: Path = ("probes", "tiers", tier, index)
            if target.name in names:
                yield at(
                    inv,
                    (*path, "name"),
                    f"repeats target name {target.name!r}",
                    "give each target of a tier its own name",
                )
            names.add(target.name)
            if target.isp is not None and target.isp not in inv.isps:
                yield at(
                    inv,
                    (*path, "isp"),
                    f"names unknown ISP {target.isp!r}",
                    one_of(target.isp, inv.isps, "isps"),
                )


def check_ssh(inv: Inventory) -> Found:
    for name, node in sorted(inv.nodes.items()):
        if not node.ssh.authorized_keys:
            yield at_node(
                inv,
                name,
                ("ssh", "authorized_keys"),
                "no key may log in: password login is off, so after a push nobody "
                "could reach this router",
                "list at least one public key",
            )
