"""/etc/meshkeeper-lab.json: what the lab tells a router about its emulated hardware.

Written by `meshkeeper lab up` into the router's own /etc. OpenWrt finds its
radios and ports on the board; a lab router finds here which veths stand in
for its 802.11s interface, which address its ISP's DHCP would hand out, and
how its SSH server is started on boot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAB_INFO = Path("/etc/meshkeeper-lab.json")


@dataclass(frozen=True)
class DhcpLease:
    address: str  # a.b.c.d/len
    gateway: str


@dataclass(frozen=True)
class LabInfo:
    node: str
    wifi: tuple[str, ...]  # devices that stand in for the 802.11s interface
    wired: tuple[str, ...]
    dhcp: dict[str, DhcpLease] = field(default_factory=dict)  # by logical interface
    sshd: tuple[str, ...] = ()  # argv that starts the router's SSH server
    agent: tuple[str, ...] = ()  # argv that starts the agent, when installed

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "node": self.node,
            "wifi": list(self.wifi),
            "wired": list(self.wired),
            "dhcp": {
                k: {"address": v.address, "gateway": v.gateway}
                for k, v in sorted(self.dhcp.items())
            },
            "sshd": list(self.sshd),
            "agent": list(self.agent),
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LabInfo:
        data = json.loads(text)
        return cls(
            node=data["node"],
            wifi=tuple(data["wifi"]),
            wired=tuple(data["wired"]),
            dhcp={k: DhcpLease(**v) for k, v in data["dhcp"].items()},
            sshd=tuple(data["sshd"]),
            agent=tuple(data.get("agent", ())),
        )

    @classmethod
    def load(cls, path: Path = LAB_INFO) -> LabInfo:
        return cls.from_json(path.read_text(encoding="utf-8"))
