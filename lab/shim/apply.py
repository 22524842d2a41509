"""What OpenWrt's services do on a lab router: network, firewall, babeld, boot, reboot.

    reload_config   compare each package's digest with /tmp/config.md5 (as procd does)
                    and re-apply the services whose config changed; network and
                    firewall go together (../shared/FIELD-NOTES.md)
    boot            run /etc/rc.d/S* boot hooks, apply everything, start sshd (and agent)
    reboot          a power cycle from inside: every process of this router is killed,
                    /tmp is wiped, then boot

A package the UCI parser rejects is reported and skipped, leaving that
service as it was, as OpenWrt's services ignore a config libuci cannot read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from controller.errors import UciError
from controller.uci import Package, parse
from lab.host import LabError, run
from lab.shim import agent
from lab.shim.babeld_conf import babeld_conf
from lab.shim.firewall import nft_ruleset
from lab.shim.labinfo import LabInfo
from lab.shim.network import NetworkPlan, apply_network, plan_network, zone_devices

CONFIG = Path("/etc/config")
DIGESTS = Path("/tmp/config.md5")
BABELD_CONF = Path("/tmp/babeld.conf")
BABELD_PID = Path("/tmp/babeld.pid")
BABELD_LOG = Path("/tmp/babeld.log")
BABELD_STATE = Path("/tmp/babel-state")  # not the host's /var/lib/babel-state
RC_D = Path("/etc/rc.d")
SERVICES = ("network", "firewall", "babeld")


def read_package(name: str) -> Package | None:
    path = CONFIG / name
    if not path.exists():
        return None
    return parse(path.read_text(encoding="utf-8"), package=name, source=str(path))


def _digest(name: str) -> str:
    path = CONFIG / name
    return hashlib.md5(path.read_bytes()).hexdigest() if path.exists() else ""  # noqa: S324


def _network_plan(lab: LabInfo) -> NetworkPlan:
    network = read_package("network") or Package("network")
    return plan_network(network, read_package("wireless"), lab)


def apply_service(service: str, lab: LabInfo) -> list[str]:
    if service in ("network", "firewall"):
        plan = _network_plan(lab)
        changes = apply_network(plan, managed=_managed_devices(lab, plan))
        firewall = read_package("firewall")
        if firewall is not None:
            ruleset = nft_ruleset(firewall, zone_devices(firewall, plan))
            run(["nft", "-f", "-"], input_text=ruleset)
        return changes
    if service == "babeld":
        return restart_babeld(lab)
    return []


def _managed_devices(lab: LabInfo, plan: NetworkPlan) -> list[str]:
    return sorted({*lab.wifi, *lab.wired, "br-lan", *plan.addresses})


def restart_babeld(lab: LabInfo) -> list[str]:
    """Restart babeld on the new config; a config that cannot be read leaves it running."""
    pkg = read_package("babeld")
    plan = _network_plan(lab)  # read everything first: a UciError here changes nothing

    def devices(name: str) -> list[str]:
        if name == "mesh0":
            return list(lab.wifi)
        return plan.devices.get(name, [name])

    text = babeld_conf(pkg, devices) if pkg is not None else ""
    stop_babeld()
    if "interface " not in text:
        return ["babeld: no mesh interface in the config, not running"]
    BABELD_CONF.write_text(text, encoding="utf-8")
    run(
        [
            "babeld",
            "-D",
            "-I",
            str(BABELD_PID),
            "-L",
            str(BABELD_LOG),
            "-S",
            str(BABELD_STATE),
            "-c",
            str(BABELD_CONF),
        ]
    )
    return ["started"]


def stop_babeld() -> None:
    try:
        pid = int(BABELD_PID.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(50):  # babeld removes its pid file when it has withdrawn its routes
        if not BABELD_PID.exists():
            return
        time.sleep(0.05)
    BABELD_PID.unlink(missing_ok=True)


def reload_config(lab: LabInfo) -> int:
    old = _load_digests()
    new = {name: _digest(name) for name in (*SERVICES, "wireless")}
    changed = {name for name in new if new[name] != old.get(name)}
    if "network" in changed or "firewall" in changed:
        changed |= {"network", "firewall"}
    if "network" in changed:
        changed.add("babeld")  # babeld's interfaces follow the network's devices
    status = 0
    for service in ("network", "babeld"):
        if service in changed and not _apply_reporting(service, lab):
            status = 1
    _save_digests(new)
    return status


def _apply_reporting(service: str, lab: LabInfo) -> bool:
    try:
        for change in apply_service(service, lab):
            print(f"{service}: {change}")
    except UciError as exc:
        print(f"{service}: config rejected, service left as it was: {exc}", file=sys.stderr)
        return False
    return True


def _load_digests() -> dict[str, str]:
    try:
        data = json.loads(DIGESTS.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def _save_digests(digests: dict[str, str]) -> None:
    DIGESTS.write_text(json.dumps(digests, sort_keys=True))


def boot(lab: LabInfo) -> int:
    for hook in sorted(RC_D.glob("S*")) if RC_D.is_dir() else []:
        if os.access(hook, os.X_OK):
            subprocess.run([str(hook), "boot"], check=False, timeout=60)
    DIGESTS.unlink(missing_ok=True)
    status = reload_config(lab)
    if lab.sshd:
        subprocess.run(list(lab.sshd), check=False, timeout=30)
    for line in agent.start(lab):
        print(f"meshkeeper-agent: {line}")
    return status


def power_cycle(lab: LabInfo) -> None:
    """`reboot`: detach, kill every other process of this router, wipe /tmp, boot."""
    if os.fork() > 0:
        return
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    own_net = Path("/proc/self/ns/net").readlink()
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if (entry / "ns" / "net").readlink() == own_net:
                os.kill(int(entry.name), signal.SIGKILL)
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    for item in Path("/tmp").iterdir():
        if item.is_dir() and not item.is_symlink():
            run(["rm", "-rf", "--", str(item)], check=False)
        else:
            item.unlink(missing_ok=True)
    time.sleep(1)
    try:
        boot(lab)
    except LabError as exc:
        print(f"boot: {exc}", file=sys.stderr)
    os._exit(0)
