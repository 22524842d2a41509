"""Benchmark: `meshkeeper check` of a generated 10,000-node inventory, whole process.

    .venv/bin/python bench/check.py [--nodes 10000] [--runs 5] [--smoke]

Target (issue 2): under 3 s on a 2-core machine. Prints each run and the median.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_network import write

TARGET_S = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="100 nodes, 1 run: does it run?")
    args = parser.parse_args()
    if args.smoke:
        args.nodes, args.runs = 100, 1
    meshkeeper = str(Path(sys.executable).with_name("meshkeeper"))
    with tempfile.TemporaryDirectory() as tmp:
        inv = Path(tmp) / "inventory"
        write(inv, args.nodes)
        lines = sum(1 for _ in (inv / "nodes.yaml").open())
        print(f"inventory: {args.nodes} nodes, {lines} lines of YAML")
        times = []
        for run in range(args.runs):
            start = time.perf_counter()
            proc = subprocess.run(
                [meshkeeper, "check", "-i", str(inv)], capture_output=True, text=True, check=False
            )
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                sys.exit(f"check failed:\n{proc.stderr[-2000:]}")
            times.append(elapsed)
            print(f"run {run + 1}: {elapsed:.2f} s")
    median = statistics.median(times)
    verdict = "meets" if median < TARGET_S else "MISSES"
    print(
        f"meshkeeper check, {args.nodes} nodes: median {median:.2f} s "
        f"({verdict} the {TARGET_S:.0f} s target)"
    )


if __name__ == "__main__":
    main()
