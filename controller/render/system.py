"""`system`: hostname, time zone and NTP."""

from __future__ import annotations

from collections.abc import Iterator

from controller.render.context import NodeContext, section
from controller.render.timezone import posix_tz, zonename
from controller.uci import Section

PACKAGE = "system"
DEFAULT_NTP = [f"{i}.openwrt.pool.ntp.org" for i in range(4)]


def render(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    zone = ctx.inv.network.timezone
    yield (
        PACKAGE,
        section(
            "system",
            None,
            hostname=ctx.node.name,
            timezone=posix_tz(zone),
            zonename=zonename(zone),
            log_size=64,
            ttylogin=False,
            urandom_seed=False,
        ),
    )
    yield (
        PACKAGE,
        section(
            "timeserver",
            "ntp",
            enabled=True,
            enable_server=False,
            server=list(ctx.inv.network.ntp_servers) or DEFAULT_NTP,
        ),
    )
