"""Human and machine output of push, diff and status."""

from __future__ import annotations

import json
import threading
import time

import click

from controller.push.diff import NodeDiff
from controller.push.node import NodeResult
from controller.push.state import NodeState
from controller.tables import table

COLOURS = {
    "applied": "green",
    "unchanged": "green",
    "rolled_back": "yellow",
    "unreachable": "red",
    "failed": "red",
    "skipped": "yellow",
    "would push": "cyan",
}


class LiveProgress:
    """One line per step as it happens: `  12.3s  gw-market     staging`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._start = time.monotonic()

    def step(self, node: str, what: str) -> None:
        with self._lock:
            click.echo(f"  {time.monotonic() - self._start:6.1f}s  {node:<20} {what}")

    def done(self, result: NodeResult) -> None:
        with self._lock:
            colour = COLOURS.get(result.result, "white")
            extra = f" — {' '.join(result.error.split())}" if result.error else ""
            click.echo(
                f"  {time.monotonic() - self._start:6.1f}s  {result.node:<20} "
                + click.style(result.result, fg=colour)
                + extra
            )


def push_table(results: list[NodeResult]) -> str:
    rows = [("NODE", "RESULT", "GENERATION", "DURATION", "CHANGED")]
    for r in results:
        rows.append(
            (
                r.node,
                r.result,
                str(r.generation or "-"),
                f"{r.duration:.1f}s",
                ", ".join(r.changed) or "-",
            )
        )
    return table(rows)


def push_json(results: list[NodeResult]) -> str:
    return json.dumps([r.__dict__ for r in results], indent=2) + "\n"


def diff_text(diffs: list[NodeDiff], errors: dict[str, str]) -> str:
    out = []
    symbols = {"+": "green", "-": "red", "~": "yellow", "!": "red"}
    for diff in diffs:
        if diff.in_sync:
            out.append(f"{diff.node}: in sync")
            continue
        out.append(click.style(diff.node, bold=True))
        out += [click.style(f"  {kind} {text}", fg=symbols[kind]) for kind, text in diff.lines]
    out += [click.style(f"{node}: {error}", fg="red") for node, error in sorted(errors.items())]
    return "\n".join(out) + "\n"


def status_table(states: list[NodeState], nodes: list[str]) -> str:
    known = {s.name: s for s in states}
    rows = [("NODE", "STATUS", "GENERATION", "APPLIED", "UPDATED", "LAST ERROR")]
    for name in nodes:
        s = known.get(name)
        if s is None:
            rows.append((name, "never pushed", "-", "-", "-", "-"))
            continue
        in_step = s.applied_hash is not None and s.applied_hash == s.rendered_hash
        applied = (s.applied_hash or "-")[:12] + (
            "" if in_step or not s.applied_hash else " (render differs)"
        )
        rows.append(
            (
                name,
                s.status,
                str(s.generation),
                applied,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(s.updated)),
                (s.last_error or "-")[:60],
            )
        )
    return table(rows)


def status_json(states: list[NodeState]) -> str:
    return json.dumps([s.__dict__ for s in states], indent=2) + "\n"
