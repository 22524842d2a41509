"""The benches' peers in their own venv, bench/.venv (not meshkeeper dependencies):
netjsonconfig for bench/render.py, ansible-core for bench/push.py.

    .venv/bin/python bench/peers.py [--smoke]

Made with this interpreter, each package only when missing. Two benches may ask
at once (`make test` runs two halves side by side, and scripts/run-tests makes
the venv beside the first tests): they take turns on a lock on bench/.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".venv"
PYTHON = VENV / "bin" / "python"
PEERS = ("netjsonconfig", "ansible-core")
# Asks the venv's package metadata, isolated (-I): `import ansible` would find the
# project's own ansible/ directory when run from the checkout.
INSTALLED = (
    "import importlib.metadata as m, sys; print(*(f'{p} {m.version(p)}' for p in sys.argv[1:]))"
)


def ensure(*packages: str) -> Path:
    """bench/.venv's python, with `packages` (of PEERS) installed."""
    lock = os.open(BENCH, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not PYTHON.exists():
            print(f"creating {VENV.relative_to(BENCH.parent)} ...", flush=True)
            _run([sys.executable, "-m", "venv", str(VENV)])
        for package in packages:
            probe = [str(PYTHON), "-I", "-c", INSTALLED, package]
            if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
                print(f"installing {package} into the bench venv ...", flush=True)
                _run([str(PYTHON), "-m", "pip", "install", "-q", package])
        return PYTHON
    finally:
        os.close(lock)


def _run(command: list[str]) -> None:
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="the same: make what is missing")
    parser.parse_args()
    python = ensure(*PEERS)
    versions = subprocess.run(
        [str(python), "-I", "-c", INSTALLED, *PEERS], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(f"bench peers in {VENV.relative_to(BENCH.parent)}: {versions}")


if __name__ == "__main__":
    main()
