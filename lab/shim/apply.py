"""What OpenWrt's services do on a lab router: network, firewall, babeld, dropbear, boot, reboot.

    reload_config   compare each package's digest with /tmp/config.md5, record the new
                    ones and return at once; PROCD_RELOAD_DELAY later a detached process
                    re-applies the services whose config changed, as procd does
                    (lab/shim/procd.py): network and firewall together
                    (../shared/FIELD-NOTES.md), babeld, dropbear
    boot            run /etc/rc.d/S* boot hooks, apply everything at once, start sshd
                    per /etc/config/dropbear (and the agent)
    reboot          a power cycle from inside: every process of this router is killed,
                    /tmp is wiped, then boot

A package the UCI parser rejects is reported and skipped, leaving that
service as it was, as OpenWrt's services ignore a config libuci cannot read.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from controller.errors import UciError
from lab.host import LabError, run
from lab.shim import agent, babeld, dropbear, procd
from lab.shim.config import CONFIG, read_package
from lab.shim.firewall import nft_ruleset
from lab.shim.labinfo import LabInfo
from lab.shim.network import NetworkPlan, apply_network, current_plan, zone_devices

DIGESTS = Path("/tmp/config.md5")
RC_D = Path("/etc/rc.d")
SERVICES = ("network", "firewall", "babeld", "dropbear")  # init scripts the shim runs
PACKAGES = ("network", "firewall", "babeld", "dropbear", "wireless")  # reload_config watches
ORDER = ("network", "babeld", "dropbear")  # how the services are applied, network first


def _digest(name: str) -> str:
    path = CONFIG / name
    return hashlib.md5(path.read_bytes()).hexdigest() if path.exists() else ""  # noqa: S324


def apply_network_and_firewall(lab: LabInfo) -> list[str]:
    plan = current_plan(lab)
    changes = apply_network(plan, managed=_managed_devices(lab, plan))
    firewall = read_package("firewall")
    if firewall is not None:
        ruleset = nft_ruleset(firewall, zone_devices(firewall, plan))
        run(["nft", "-f", "-"], input_text=ruleset)
    return changes


APPLY: dict[str, Callable[[LabInfo], list[str]]] = {
    "network": apply_network_and_firewall,
    "babeld": babeld.restart,
    "dropbear": dropbear.reload,
}


def _managed_devices(lab: LabInfo, plan: NetworkPlan) -> list[str]:
    return sorted({*lab.wifi, *lab.wired, "br-lan", *plan.addresses})


def triggered(changed: Iterable[str]) -> list[str]:
    """The services procd reloads when these packages changed, in the order applied.

    network and firewall change together or the admin is locked out (FIELD-NOTES);
    babeld's interfaces follow the network's devices; dropbear has an interface
    trigger on the interfaces it binds to, so a network change reloads it too.
    """
    packages = set(changed)
    services = set()
    if packages & {"network", "firewall"}:
        services.add("network")
    if packages & {"network", "babeld"}:
        services.add("babeld")
    if packages & {"network", "dropbear"}:
        services.add("dropbear")
    return [s for s in ORDER if s in services]


def reload_config(lab: LabInfo) -> int:
    """Record what changed and return; the services follow PROCD_RELOAD_DELAY later.

    Like OpenWrt's reload_config this exits 0 even when a package cannot be
    read (its `uci show` only prints the parse error): the service keeps its
    old state when the trigger finds the file unreadable.
    """
    old = _load_digests()
    new = {name: _digest(name) for name in PACKAGES}
    # no digests yet: OpenWrt's reload_config only records them (boot writes them here)
    changed = [name for name in PACKAGES if old and new[name] != old.get(name)]
    for name in changed:
        _report_unreadable(name)
    _save_digests(new)
    services = triggered(changed)
    if services:
        procd.later(lambda: apply_now(services, lab), what=", ".join(services))
    return 0


def _report_unreadable(name: str) -> None:
    try:
        read_package(name)
    except UciError as exc:
        print(f"uci: Parse error ({exc.what}) at line {exc.line}", file=sys.stderr)


def apply_now(services: Iterable[str], lab: LabInfo) -> int:
    """Apply each service at once, in order; 1 if a config was rejected."""
    results = [apply_reporting(service, lab) for service in services]
    return 0 if all(results) else 1


def apply_reporting(service: str, lab: LabInfo) -> bool:
    return _apply(service, lab) is not None


def _apply(service: str, lab: LabInfo) -> list[str] | None:
    """The changes made (printed), or None when the config was rejected."""
    try:
        changes = APPLY[service](lab)
    except UciError as exc:
        print(f"{service}: config rejected, service left as it was: {exc}", file=sys.stderr)
        return None
    for change in changes:
        print(f"{service}: {change}")
    return changes


def reload_network(lab: LabInfo) -> int:
    """`/etc/init.d/network reload`: applied at once. When an interface changed,
    dropbear's interface trigger follows PROCD_RELOAD_DELAY later, as procd fires it."""
    changes = _apply("network", lab)
    if changes:
        procd.later(lambda: apply_now(["dropbear"], lab), what="dropbear (interface trigger)")
    return 0 if changes is not None else 1


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
    _save_digests({name: _digest(name) for name in PACKAGES})
    status = apply_now(ORDER, lab)
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
