"""procd's reload triggers: run a service's reload PROCD_RELOAD_DELAY after the event.

On OpenWrt `reload_config` only signals procd; procd runs each changed
service's reload trigger PROCD_RELOAD_DELAY (1000 ms, /lib/functions/procd.sh)
later, and the caller has long returned (../shared/FIELD-NOTES.md, "Applying
is asynchronous"). The lab does the same: a detached process (double fork, own
session, stdio to a log on the RAM disk) sleeps the delay, then applies. It
survives the SSH session that ran reload_config and dies with a power cut, as
procd's pending timers do. Triggers run one at a time, as procd queues them.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

PROCD_RELOAD_DELAY = 1.0  # seconds, /lib/functions/procd.sh: PROCD_RELOAD_DELAY=1000
LOG = Path("/tmp/procd-triggers.log")
LOCK = Path("/tmp/procd-triggers.lock")


def later(work: Callable[[], object], what: str, delay: float = PROCD_RELOAD_DELAY) -> None:
    """Return at once; `work` runs `delay` seconds from now in a detached process."""
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        _detached(work, what, delay)
    os.waitpid(child, 0)


def _detached(work: Callable[[], object], what: str, delay: float) -> NoReturn:  # pragma: no cover
    status = 0
    try:
        os.setsid()
        if os.fork() == 0:
            _to_log()
            time.sleep(delay)
            with serialized():
                print(f"{time.strftime('%H:%M:%S')} trigger: {what}", flush=True)
                work()
    except BaseException:  # noqa: BLE001 - the outermost boundary of a detached process
        traceback.print_exc()
        status = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _to_log() -> None:
    """Let go of the caller's stdio (an SSH channel would stay open) for the log."""
    log = os.open(LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    # nothing of the caller's (its lock, its sockets) stays open
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    # print() must reach the log even where sys.stdout was not fd 1 (a test's capture)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - for the process
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


@contextmanager
def serialized() -> Iterator[None]:
    """One service action at a time on this router (procd runs them one by one)."""
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:  # explicitly: a process forked meanwhile shares this open file
            fcntl.flock(handle, fcntl.LOCK_UN)
