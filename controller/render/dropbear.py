"""`dropbear`: key-only SSH on every address, fenced by the firewall.

One section and no `option Interface`, as stock OpenWrt ships it. With
`Interface`, dropbear binds only that logical interface's addresses, and an
interface with no device of its own gets no listener at all
(../shared/FIELD-NOTES.md): babel's `mesh` has none (the 802.11s radio joins
it through wireless), so a wired-only node, or one whose mesh radio is down,
would come up with SSH listening nowhere and be lost until someone climbs the
roof. The firewall is the fence instead: SSH is accepted from the mesh zone
(mesh links, wired mesh ports, management, the NOC) and rejected from the LAN
and wan zones (firewall.py); `meshkeeper check` refuses a node whose
management address would not be reachable that way (model/checks/access.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from controller.render.context import NodeContext, section
from controller.uci import Section

PACKAGE = "dropbear"
SECTION = "main"  # as current stock names it (19.07 shipped it anonymous)


def render(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    yield (
        PACKAGE,
        section(
            "dropbear",
            SECTION,
            PasswordAuth="off",
            RootPasswordAuth="off",
            RootLogin=True,
            Port=ctx.node.ssh.port,
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
