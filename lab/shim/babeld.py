"""babeld on a lab router: (re)started on the config /etc/config/babeld renders to."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from lab.host import run
from lab.shim import proc
from lab.shim.babeld_conf import babeld_conf
from lab.shim.config import read_package
from lab.shim.labinfo import LabInfo
from lab.shim.network import current_plan

CONF = Path("/tmp/babeld.conf")
PID = Path("/tmp/babeld.pid")
LOG = Path("/tmp/babeld.log")
STATE = Path("/tmp/babel-state")  # not the host's /var/lib/babel-state
ARGV = ("babeld", "-D", "-I", str(PID), "-L", str(LOG), "-S", str(STATE), "-c", str(CONF))


def restart(lab: LabInfo) -> list[str]:
    """Restart babeld on the new config; a config that cannot be read leaves it running."""
    pkg = read_package("babeld")
    plan = current_plan(lab)  # read everything first: a UciError here changes nothing

    def devices(name: str) -> list[str]:
        if name == "mesh0":
            return list(lab.wifi)
        return plan.devices.get(name, [name])

    text = babeld_conf(pkg, devices) if pkg is not None else ""
    stop()
    if "interface " not in text:
        return ["babeld: no mesh interface in the config, not running"]
    CONF.write_text(text, encoding="utf-8")
    run(list(ARGV))
    return ["started"]


def stop() -> None:
    pid = proc.read_pid(PID)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(50):  # babeld removes its pid file when it has withdrawn its routes
        if not PID.exists():
            return
        time.sleep(0.05)
    PID.unlink(missing_ok=True)


def running() -> int | None:
    pid = proc.read_pid(PID)
    return pid if pid is not None and proc.is_running(pid, "babeld") else None
