"""Entry point of the apply shim inside a lab router (`python -m lab.shim COMMAND`).

reload_config                 OpenWrt's reload_config (services follow ~1 s later)
service NAME ACTION           /etc/init.d/NAME ACTION (network, firewall, babeld,
                              dropbear, meshkeeper-agent), applied at once
ubus call PATH METHOD [MSG]   the ubus calls a push makes (lab/shim/ubus.py)
wifi [ACTION]                 no radios in the lab: says so, does nothing
boot                          what a router does at power-on
reboot                        a power cycle of this router
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from controller.errors import MeshkeeperError, UciError
from lab.shim import agent, apply, babeld, dropbear, procd, ubus
from lab.shim.labinfo import LabInfo

START = ("reload", "restart", "start", "boot")


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
        with procd.serialized():
            return _service(name, action, lab)
    if command == "ubus":
        return ubus.main(args, lab)
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


def _service(name: str, action: str, lab: LabInfo) -> int:
    if name == "meshkeeper-agent":
        return _steps(name, action, lab, AGENT_STEPS)
    if name == "dropbear":
        return _steps(name, action, lab, DROPBEAR_STEPS)
    if name not in apply.SERVICES:
        print(f"/etc/init.d/{name}: not emulated in the lab", file=sys.stderr)
        return 1
    if action in START:
        if name == "babeld":
            return 0 if apply.apply_reporting("babeld", lab) else 1
        return apply.reload_network(lab)
    if action == "stop" and name == "babeld":
        babeld.stop()
    return 0


Steps = dict[str, Callable[[LabInfo], list[str]]]
AGENT_STEPS: Steps = {
    "start": agent.start,
    "boot": agent.start,
    "reload": agent.reload,
    "restart": agent.restart,
    "stop": agent.stop,
}
# procd: start and reload both send the instances; unchanged running ones stay
DROPBEAR_STEPS: Steps = {
    "start": dropbear.reload,
    "boot": dropbear.reload,
    "reload": dropbear.reload,
    "restart": dropbear.restart,
    "stop": dropbear.stop,
}


def _steps(name: str, action: str, lab: LabInfo, steps: Steps) -> int:
    if action not in steps:
        print(f"/etc/init.d/{name}: unknown action {action!r}", file=sys.stderr)
        return 2
    try:
        lines = steps[action](lab)
    except UciError as exc:
        print(f"{name}: config rejected, service left as it was: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(f"{name}: {line}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except MeshkeeperError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
