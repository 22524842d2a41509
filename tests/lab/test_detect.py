"""Shutdown detection end to end, on the session's lab: bench/detect.py --smoke.

The international cut is injected with `lab fault`; every router's agent,
probing every 5 s, must hold `international_shutdown` within a few rounds and
`ok` again after `heal`, and no router may show any other class meanwhile.
This is the bench's smoke run too (tests/bench/test_bench_smoke.py): it runs
here, on the lab that is already up, because a lab of its own costs a minute.
The full matrix of faults is `bench/detect.py` (README, Performance).
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT
from tests.lab.conftest import Lab


def test_an_international_cut_is_detected_everywhere_and_clears(lab: Lab) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench/detect.py"), "--smoke", "--attach", str(lab.inventory)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=ROOT,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert re.search(r"^international-cut +(\. +){7}\.$", proc.stdout, re.MULTILINE), out
    assert "diagonal: 8/8 = 100.0 %" in proc.stdout, out
    detection = re.search(r"detection delay, rounds: median ([0-9.]+), max ([0-9.]+)", out)
    assert detection and float(detection.group(2)) <= 4.5, out  # K = 3 rounds, plus a phase
    cleared = re.search(r"clear delay after heal, rounds: median [0-9.]+, max ([0-9.]+)", out)
    assert cleared and float(cleared.group(1)) <= 3.5, out  # L = 2 rounds, plus a phase
