"""Every collector the agent has, in one tuple; agent.json enables them by name.

Each module holds one collector and its pure parser (node_exporter's habit:
one collector per file, registered in one list).
"""

from __future__ import annotations

from agent.collectors import babel, batman_adv, interfaces, neighbours, system, wireless
from agent.collectors.base import CollectorSpec, Host
from agent.config import AgentConfig
from agent.contract import default_collectors

ALL: tuple[CollectorSpec, ...] = (
    system.SPEC,
    interfaces.SPEC,
    babel.SPEC,
    batman_adv.SPEC,
    wireless.SPEC,
    neighbours.SPEC,
)
BY_NAME = {spec.name: spec for spec in ALL}


def default_names(config: AgentConfig, host: Host | None = None) -> list[str]:
    """What runs when agent.json lists no collectors: the controller's rule
    (agent/contract.py), with the radios this node has (/sys/class/ieee80211)."""
    phy = (host or Host()).path("/sys/class/ieee80211")
    try:
        radios = any(phy.iterdir())
    except OSError:
        radios = False
    return default_collectors(
        config.mesh.protocol, radios=radios, neighbours=bool(config.neighbours)
    )


__all__ = ["ALL", "BY_NAME", "CollectorSpec", "Host", "default_names"]
