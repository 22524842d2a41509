"""Is a process one of this router's, and alive? (what procd knows of its children)

The lab shares the host's pid space: a pid file may name a pid the kernel has
since given to another process, maybe in another router. A process counts as
this router's service only when it is in our network namespace, has the
expected name, is not a zombie and, when known, started when we recorded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

COMM_MAX = 15  # the kernel cuts /proc/PID/comm at 15 characters


def start_time(pid: int) -> int | None:
    """Clock ticks after boot when `pid` started (/proc/PID/stat field 22)."""
    stat = _stat(pid)
    return int(stat[19]) if stat else None


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()  # fields from 3 on: the name may hold spaces


def is_running(pid: int, comm: str, started: int | None = None) -> bool:
    proc = Path(f"/proc/{pid}")
    stat = _stat(pid)
    try:
        same_router = (proc / "ns" / "net").readlink() == Path("/proc/self/ns/net").readlink()
        name = (proc / "comm").read_text().strip()
    except OSError:
        return False
    if stat is None or stat[0] in ("Z", "X") or name != comm[:COMM_MAX] or not same_router:
        return False
    return started is None or int(stat[19]) == started


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def terminate(pid: int, comm: str, started: int | None = None, wait: float = 2.5) -> None:
    """SIGTERM to that one process (never its group), SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not is_running(pid, comm, started):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and is_running(pid, comm, started):
            time.sleep(0.02)
