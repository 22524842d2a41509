"""`lab status`: what is running in each router, read from the routers themselves."""

from __future__ import annotations

import json
from dataclasses import dataclass

from controller.tables import table
from lab.host import ip, namespaces
from lab.paths import LabPaths
from lab.plan import LabPlan
from lab.router import running


@dataclass(frozen=True)
class RouterStatus:
    node: str
    namespace: str
    present: bool
    sshd: bool
    babeld: bool
    agent: bool
    links_up: int
    links: int


def router_status(plan: LabPlan, paths: LabPaths) -> list[RouterStatus]:
    del paths
    existing = namespaces()
    out = []
    for name, node in sorted(plan.nodes.items()):
        present = node.namespace in existing
        programs = running(node.namespace) if present else set()
        up = 0
        devices = (*node.wifi, *node.wired)
        if present and devices:
            links = json.loads(ip("-j", "link", "show", netns=node.namespace) or "[]")
            state = {
                link["ifname"]: {"UP", "LOWER_UP"} <= set(link.get("flags", [])) for link in links
            }
            up = sum(1 for d in devices if state.get(d))
        out.append(
            RouterStatus(
                name,
                node.namespace,
                present,
                "sshd" in programs,
                "babeld" in programs,
                "meshkeeper-agen" in programs,  # comm is cut at 15 characters
                up,
                len(devices),
            )
        )
    return out


def status_table(rows: list[RouterStatus]) -> str:
    yes = {True: "up", False: "-"}
    return table(
        [("NODE", "NAMESPACE", "SSHD", "BABELD", "AGENT", "LINKS")]
        + [
            (
                r.node,
                r.namespace if r.present else f"{r.namespace} (missing)",
                yes[r.sshd],
                yes[r.babeld],
                yes[r.agent],
                f"{r.links_up}/{r.links}",
            )
            for r in rows
        ]
    )
