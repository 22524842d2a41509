"""Running the lab's system commands: argv lists only, never a shell.

Every call names a fixed program; values (namespace and device names that
come from the inventory's validated hostnames, addresses) are separate argv
items, so nothing is ever parsed by a shell.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from controller.errors import MeshkeeperError

RUN_DIR = Path("/run/meshkeeper-lab")  # nsfs handles of the routers' mount namespaces
MOUNT_DIR = RUN_DIR / "mnt"
# Inside every router the lab's directory is bound here, so the router's own
# /tmp can never hide the files its SSH server needs (the lab may live in /tmp).
ROUTER_VIEW = RUN_DIR / "lab"
# Likewise meshkeeper's own code and virtual environment, wherever they live (a
# CI checkout may be under /tmp, which a router's own /tmp would hide).
ROUTER_SRC = RUN_DIR / "src"
ROUTER_VENV = RUN_DIR / "venv"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def router_python() -> list[str]:
    """argv prefix that runs meshkeeper's Python inside a router."""
    if sys.prefix != sys.base_prefix:  # a virtual environment: its view inside the router
        python = str(ROUTER_VENV / "bin" / Path(sys.executable).name)
    else:
        python = sys.executable
    return ["env", f"PYTHONPATH={ROUTER_SRC}", python]


class LabError(MeshkeeperError):
    """The practice lab could not do what was asked."""

    exit_code = 1


def run(
    argv: Sequence[str], *, check: bool = True, input_text: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            input=input_text,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise LabError(
            f"{argv[0]} is not installed — run `make install` (Debian packages)"
        ) from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv[:4])} … did not finish in {timeout:.0f} s") from None
    if check and result.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


def spawn_detached(argv: Sequence[str], log: Path) -> int:
    """Start a daemon that outlives us (double fork, own session); return its pid."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        try:
            os.close(read_end)
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.execvp(argv[0], list(argv))  # noqa: S606 - argv list, fixed program
            os.write(write_end, str(grandchild).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end) as handle:
        text = handle.read()
    if not text:
        raise LabError(f"could not start {argv[0]}")
    return int(text)


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    argv = ["ip", *(("-n", netns) if netns else ()), *args]
    return run(argv, check=check).stdout


def ip_batch(lines: list[str], netns: str | None = None) -> None:
    """Many `ip` commands in one process (each line: `link add ...`, `addr add ...`)."""
    if lines:
        run(
            ["ip", *(("-n", netns) if netns else ()), "-batch", "-"],
            input_text="\n".join(lines) + "\n",
        )


def namespaces() -> set[str]:
    return {line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()}


def pids_in(netns: str) -> list[int]:
    out = ip("netns", "pids", netns, check=False)
    return [int(p) for p in out.split()]


def mount_handle(node: str) -> Path:
    return MOUNT_DIR / node


def nsenter(
    netns: str, mount: Path | None, argv: Sequence[str], *, workdir: str | None = None
) -> list[str]:
    """argv that runs `argv` inside a router (network + its own mount namespace)."""
    cmd = ["nsenter", f"--net=/run/netns/{netns}"]
    if mount is not None:
        cmd.append(f"--mount={mount}")
    if workdir is not None:
        cmd.append(f"--wd={workdir}")
    return [*cmd, "--", *argv]


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the practice lab needs root (network namespaces) — run it as root")
