"""Entry point of the apply shim inside a lab router (`python -m lab.shim COMMAND`).

reload_config                 OpenWrt's reload_config
service NAME ACTION           /etc/init.d/NAME ACTION (network, firewall, babeld,
                              meshkeeper-agent)
wifi [ACTION]                 no radios in the lab: says so, does nothing
boot                          what a router does at power-on
reboot                        a power cycle of this router
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from controller.errors import MeshkeeperError
from lab.shim import agent, apply
from lab.shim.labinfo import LabInfo


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    lab = LabInfo.load()
    if command == "reload_config":
        return apply.reload_config(lab)
    if command == "service":
        name, action = [*args, "", ""][:2]
        if name == "meshkeeper-agent":
            return _agent_service(action, lab)
        if name not in apply.SERVICES:
            print(f"/etc/init.d/{name}: not emulated in the lab", file=sys.stderr)
            return 1
        if action in ("reload", "restart", "start", "boot"):
            if name == "babeld":
                return 0 if apply._apply_reporting("babeld", lab) else 1
            ok = apply._apply_reporting("network", lab)
            return 0 if ok else 1
        if action == "stop" and name == "babeld":
            apply.stop_babeld()
        return 0
    if command == "wifi":
        print("wifi: the practice lab has no radios; the mesh runs over veth links — nothing to do")
        return 0
    if command == "boot":
        return apply.boot(lab)
    if command == "reboot":
        apply.power_cycle(lab)
        return 0
    print(f"unknown command {command!r}", file=sys.stderr)
    return 2


def _agent_service(action: str, lab: LabInfo) -> int:
    steps: dict[str, Callable[[LabInfo], list[str]]] = {
        "start": agent.start,
        "boot": agent.start,
        "reload": agent.reload,
        "restart": agent.restart,
        "stop": agent.stop,
    }
    if action not in steps:
        print(f"/etc/init.d/meshkeeper-agent: unknown action {action!r}", file=sys.stderr)
        return 2
    for line in steps[action](lab):
        print(f"meshkeeper-agent: {line}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except MeshkeeperError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
