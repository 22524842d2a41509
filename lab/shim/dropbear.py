"""dropbear on a lab router: one OpenSSH master process per procd instance.

`reload` is procd's `service set`: an instance whose command is unchanged and
whose process is alive is left alone; the others are stopped, then started
anew, bound as lab/shim/dropbear_conf.py says OpenWrt's init script binds
dropbear. Stopping signals only the listening master: the sessions it forked
are processes of their own (OpenSSH's per-connection children call setsid, as
dropbear's do) and survive, as they do when procd restarts dropbear. With no
instance, nothing listens for SSH at all, as on OpenWrt.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lab.shim import proc
from lab.shim.config import read_package
from lab.shim.dropbear_conf import DropbearInstance, dropbear_instances, sshd_options
from lab.shim.ifstatus import addresses_by_interface, read_states
from lab.shim.labinfo import LabInfo

STATE = Path("/tmp/dropbear.json")  # what procd remembers of its instances
RUN = Path("/tmp/run")  # OpenWrt's /var/run (a router's /var is /tmp)
SSHD = "sshd"
START_WAIT = 3.0  # sshd writes its pid file once it listens


@dataclass(frozen=True)
class Running:
    command: tuple[str, ...]  # the dropbear command line procd would show
    sshd: tuple[str, ...]  # what the lab runs for it
    pid: int
    started: int

    def alive(self) -> bool:
        return proc.is_running(self.pid, SSHD, self.started)


def plan(lab: LabInfo) -> tuple[list[DropbearInstance], list[str]]:
    """The instances /etc/config/dropbear asks for now (UciError if it cannot be read).

    The interfaces are read only when a section binds to one: without `option
    Interface` dropbear starts whatever state the network is in, as on OpenWrt.
    """
    package = read_package("dropbear")
    bound = package is not None and any("Interface" in s.options for s in package.sections)
    addresses = addresses_by_interface(read_states(lab)) if bound else {}
    return dropbear_instances(package, addresses)


def pid_file(name: str) -> Path:
    return RUN / f"sshd.{name}.pid"


def sshd_argv(lab: LabInfo, instance: DropbearInstance) -> tuple[str, ...]:
    return (*lab.sshd, *sshd_options(instance, str(pid_file(instance.name))))


def reload(lab: LabInfo) -> list[str]:
    if not lab.sshd:
        return ["no SSH server in this lab"]
    instances, notes = plan(lab)  # read everything first: a UciError here changes nothing
    current = load_state()
    wanted = {i.name: (i, sshd_argv(lab, i)) for i in instances}
    keep = {
        name
        for name, (instance, argv) in wanted.items()
        if name in current and _unchanged(current[name], instance, argv)
    }
    lines = list(notes)
    for name in sorted(set(current) - keep):
        _stop(current[name])
        lines.append(f"{name}: stopped")
    state = {name: current[name] for name in keep}
    for name, (instance, argv) in wanted.items():
        if name not in keep:
            lines.append(_start(name, instance, argv, state))
    save_state(state)
    if not wanted:
        return [*lines, "no instance: nothing listens for SSH"]
    return lines or ["unchanged"]


def _unchanged(running: Running, instance: DropbearInstance, argv: tuple[str, ...]) -> bool:
    return running.command == instance.command and running.sshd == argv and running.alive()


def _start(
    name: str, instance: DropbearInstance, argv: tuple[str, ...], state: dict[str, Running]
) -> str:
    pid_path = pid_file(name)
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    pid_path.unlink(missing_ok=True)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        return f"{name}: sshd refused to start: {result.stderr.strip()[-300:]}"
    # sshd forks before it binds, and writes its pid file once it listens
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        pid = proc.read_pid(pid_path)
        started = proc.start_time(pid) if pid is not None else None
        if pid is not None and started is not None:
            state[name] = Running(instance.command, argv, pid, started)
            return f"{name}: listening on {' '.join(instance.listen)} (pid {pid})"
        time.sleep(0.02)
    return f"{name}: sshd did not come up on {' '.join(instance.listen)} (see its log)"


def _stop(running: Running) -> None:
    proc.terminate(running.pid, SSHD, running.started)


def restart(lab: LabInfo) -> list[str]:
    return [*stop(), *reload(lab)]


def stop(lab: LabInfo | None = None) -> list[str]:
    del lab
    current = load_state()
    for running in current.values():
        _stop(running)
    save_state({})
    return [f"{name}: stopped" for name in sorted(current)]


def live() -> dict[str, Running]:
    """The instances whose master process is alive, by name."""
    return {name: r for name, r in sorted(load_state().items()) if r.alive()}


def load_state() -> dict[str, Running]:
    try:
        data = json.loads(STATE.read_text())
        return {
            str(name): Running(
                tuple(item["command"]), tuple(item["sshd"]), int(item["pid"]), int(item["started"])
            )
            for name, item in data.items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def save_state(state: dict[str, Running]) -> None:
    data = {
        name: {"command": list(r.command), "sshd": list(r.sshd), "pid": r.pid, "started": r.started}
        for name, r in sorted(state.items())
    }
    tmp = STATE.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(STATE)
