"""What procd does for meshkeeper-agent on a lab router: start, stop, reload on change.

agent/openwrt/meshkeeper-agent.init declares `procd_set_param file
/etc/meshkeeper/agent.json`, so on OpenWrt `/etc/init.d/meshkeeper-agent
reload` restarts the agent only when that file changed (or it is not
running), and procd respawns it if it dies. The lab does the same with a pid
file and the config's digest on the router's RAM disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import time
from pathlib import Path

from lab.host import spawn_detached
from lab.shim.labinfo import LabInfo

CONFIG = Path("/etc/meshkeeper/agent.json")
PID = Path("/tmp/meshkeeper-agent.pid")
DIGEST = Path("/tmp/meshkeeper-agent.md5")
LOG = Path("/tmp/meshkeeper-agent.log")


def _digest() -> str:
    return hashlib.md5(CONFIG.read_bytes()).hexdigest() if CONFIG.exists() else ""  # noqa: S324


def running() -> int | None:
    """The agent's pid, if that process is still this router's agent.

    The lab shares the host's pid space: a stale pid file may name a reused pid,
    so the process must be in this router's network namespace and be the agent.
    """
    try:
        pid = int(PID.read_text().strip())
        proc = Path(f"/proc/{pid}")
        same_router = (proc / "ns" / "net").readlink() == Path("/proc/self/ns/net").readlink()
        is_agent = b"meshkeeper-agent" in (proc / "cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if same_router and is_agent else None


def start(lab: LabInfo) -> list[str]:
    if not lab.agent:
        return ["no agent in this lab"]
    if not CONFIG.exists():
        return [f"not started: no {CONFIG} (push the node)"]
    if running() is not None:
        return ["already running"]
    pid = spawn_detached(lab.agent, LOG)
    PID.write_text(f"{pid}\n")
    DIGEST.write_text(_digest())
    return [f"started (pid {pid})"]


def stop(lab: LabInfo | None = None) -> list[str]:
    del lab
    pid = running()
    if pid is None:
        return []
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    PID.unlink(missing_ok=True)
    return ["stopped"]


def reload(lab: LabInfo) -> list[str]:
    """Restart when agent.json changed since the agent started, or start it if it is down."""
    current = DIGEST.read_text() if DIGEST.exists() else None
    if running() is not None and current == _digest():
        return ["unchanged"]
    return restart(lab)


def restart(lab: LabInfo) -> list[str]:
    return [*stop(), *start(lab)]
