"""Where each node's agent answers, for a scraper in the NOC.

One function feeds `meshkeeper monitoring targets` and the Prometheus file_sd
output: both say the same thing. The address is the node's management (mesh)
address, which the NOC reaches through its entry node; that is also where
the agent binds (agent.json `listen`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from controller.model.inventory import Inventory


@dataclass(frozen=True)
class AgentTarget:
    node: str
    address: str
    port: int
    role: str
    scheme: str  # http, or https when the agent serves TLS

    @property
    def host_port(self) -> str:
        return f"{self.address}:{self.port}"


def agent_targets(inv: Inventory) -> list[AgentTarget]:
    """Every node whose agent is enabled, by name."""
    return [
        AgentTarget(
            node=name,
            address=str(inv.plan[name].management),
            port=node.agent.port,
            role=node.role,
            scheme="https" if node.agent.tls is not None else "http",
        )
        for name, node in sorted(inv.nodes.items())
        if node.agent.enabled
    ]


def file_sd(targets: list[AgentTarget], network: str) -> str:
    """Prometheus file_sd JSON: one group per node, labelled with its inventory name."""
    groups = [
        {
            "targets": [t.host_port],
            "labels": {"node": t.node, "role": t.role, "network": network, "__scheme__": t.scheme},
        }
        for t in targets
    ]
    return json.dumps(groups, indent=2) + "\n"
