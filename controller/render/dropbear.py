"""`dropbear`: key-only SSH, listening on the mesh (and management) interfaces only.

LAN clients are community users: the SSH port is not offered to them at all
(and the firewall rejects it from the LAN zone as a second fence).
"""

from __future__ import annotations

from collections.abc import Iterator

from controller.render.context import NodeContext, section
from controller.render.network import MESH, MGMT, has_mgmt
from controller.uci import Section

PACKAGE = "dropbear"


def render(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    interfaces = [MESH] + ([MGMT] if has_mgmt(ctx) else [])
    for interface in interfaces:
        yield (
            PACKAGE,
            section(
                "dropbear",
                interface,
                PasswordAuth="off",
                RootPasswordAuth="off",
                RootLogin=True,
                Port=ctx.node.ssh.port,
                Interface=interface,
            ),
        )


def authorized_keys(ctx: NodeContext) -> str:
    """/etc/dropbear/authorized_keys: one key per line, in inventory order, no repeats."""
    lines: list[str] = []
    for entry in ctx.node.ssh.authorized_keys:
        text = entry if isinstance(entry, str) else ctx.secrets.get(entry).reveal()
        for raw in text.splitlines():
            line = raw.strip()
            if line and not line.startswith("#") and line not in lines:
                lines.append(line)
    return "".join(f"{line}\n" for line in lines)
