"""Every collector the agent has, in one tuple; agent.json enables them by name.

Each module holds one collector and its pure parser (node_exporter's habit:
one collector per file, registered in one list).
"""

from __future__ import annotations

from agent.collectors import babel, batman_adv, interfaces, neighbours, system, wireless
from agent.collectors.base import CollectorSpec, Host
from agent.config import AgentConfig

ALL: tuple[CollectorSpec, ...] = (
    system.SPEC,
    interfaces.SPEC,
    babel.SPEC,
    batman_adv.SPEC,
    wireless.SPEC,
    neighbours.SPEC,
)
BY_NAME = {spec.name: spec for spec in ALL}


def default_names(config: AgentConfig) -> list[str]:
    """What runs when agent.json lists no collectors: what this node's config implies."""
    names = ["system", "interfaces", "wireless", "neighbours"]
    if config.mesh.protocol == "babel":
        names.append("babel")
    elif config.mesh.protocol == "batman-adv":
        names.append("batman_adv")
    return names


__all__ = ["ALL", "BY_NAME", "CollectorSpec", "Host", "default_names"]
