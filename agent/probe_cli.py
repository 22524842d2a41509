"""`meshkeeper-agent probe` and `meshkeeper-agent journal export`: detection by hand.

`probe` runs rounds exactly as the running agent does and prints every
result, then the verdict and its evidence: what an operator on a router's
console wants during an incident. It reads the learned baselines but writes
nothing on flash (no journal, no baseline update), so running it by hand
never disturbs the agent's own history.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from agent.baseline import Baselines
from agent.config import AgentConfig
from agent.detector import Detector, Round
from agent.journal import Journal, export_openmetrics
from agent.verdict import OK

ROUNDS = 3  # the verdict's K: a class shows only after this many agreeing rounds
PAUSE = 5.0  # between rounds, at most


def probe_command(config: AgentConfig, state_dir: Path, *, once: bool, as_json: bool) -> int:
    baselines = Baselines(state_dir / "baselines.json", save_every=float("inf"))
    detector = Detector(config, baselines=baselines)
    rounds = 1 if once else ROUNDS
    done: Round | None = None
    for number in range(rounds):
        if number:
            time.sleep(min(PAUSE, config.probes.interval_seconds))
        done = detector.round()
        if not as_json:
            _print_round(done)
    assert done is not None  # noqa: S101 - rounds >= 1
    if as_json:
        json.dump(_as_json(done), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        _print_verdict(done, once)
    return 0 if set(done.verdict.active) == {OK} else 3


def _print_round(done: Round) -> None:
    print(f"round {done.number}: {len(done.results)} probes in {done.wall_seconds:.2f} s")
    for r in sorted(done.results, key=lambda r: r.key):
        state = "ok  " if r.ok else "FAIL"
        failure = f" {r.failure}" if r.failure else ""
        print(
            f"  {state} {r.tier:<13} {r.target:<16} {r.kind:<10} {r.uplink:<5} "
            f"{r.duration * 1000:6.0f} ms{failure}  {r.evidence}"
        )


def _print_verdict(done: Round, once: bool) -> None:
    print("seen this round:" if done.observed else "seen this round: nothing wrong")
    for finding, evidence in sorted(done.observed.items()):
        print(f"  {finding}: {evidence}")
    print("verdict:")
    for finding, since in sorted(done.verdict.active.items()):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
        evidence = done.verdict.evidence.get(finding, "")
        print(f"  {finding} since {when}{': ' + evidence if evidence else ''}")
    if once and done.observed:
        print(f"  (one round: a class is entered after {ROUNDS} agreeing rounds)")


def _as_json(done: Round) -> dict[str, object]:
    return {
        "round": done.number,
        "wall_seconds": round(done.wall_seconds, 3),
        "results": [
            {
                "tier": r.tier,
                "target": r.target,
                "kind": r.kind,
                "uplink": r.uplink,
                "ok": r.ok,
                "duration_seconds": round(r.duration, 4),
                "failure": r.failure or None,
                "timestamp": round(r.timestamp, 3),
                "value": r.value,
                "evidence": r.evidence,
                "detail": dict(r.detail),
                "bytes": {"sent": r.sent, "received": r.received},
            }
            for r in sorted(done.results, key=lambda r: r.key)
        ],
        "observed": [{**f.labels, "evidence": e} for f, e in sorted(done.observed.items())],
        "verdict": [
            {**f.labels, "since": s, "evidence": done.verdict.evidence.get(f, "")}
            for f, s in sorted(done.verdict.active.items())
        ],
    }


def journal_export(state_dir: Path, since: float | None, until: float | None) -> int:
    journal = Journal(state_dir / "journal")
    export_openmetrics(journal.read(since=since, until=until), sys.stdout)
    return 0
