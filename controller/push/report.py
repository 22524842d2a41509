"""Human and machine output of push, diff and status."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING

import click

from controller.tables import table
from controller.transport.errors import printable

if TYPE_CHECKING:
    from controller.push.diff import NodeDiff
    from controller.push.node import NodeResult
    from controller.push.state import NodeState


def shown(text: str, limit: int = 80) -> str:
    """Text from a router or an agent, safe to print on one line: control characters
    (C0, DEL, C1, ESC), bidi overrides and other invisible characters escaped
    (`\\x1b`, `\\u202e`), so none reaches the terminal; cut to `limit` characters."""
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


COLOURS = {
    "applied": "green",
    "unchanged": "green",
    "rolled_back": "yellow",
    "unreachable": "red",
    "failed": "red",
    "skipped": "yellow",
    "would push": "cyan",
    "not checked": "red",
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
            # an error may carry the router's words (its apply log, its rollback record)
            extra = f" — {shown(' '.join(result.error.split()), LINE)}" if result.error else ""
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


SYMBOLS = {"+": "green", "-": "red", "~": "yellow", "!": "red"}
LINE = 1000  # characters of one line about a router: its words are escaped and cut


def diff_text(diffs: list[NodeDiff], errors: dict[str, str]) -> str:
    """Each router's differences, or `in sync`, or why it was not compared: what the
    routers said is escaped and cut, one line per item."""
    out = []
    for diff in diffs:
        if diff.in_sync:
            out.append(f"{diff.node}: in sync")
            continue
        out.append(click.style(diff.node, bold=True))
        out += [_diff_line(kind, text) for kind, text in diff.lines]
    out += [
        click.style(f"{node}: {shown(error, LINE)}", fg="red")
        for node, error in sorted(errors.items())
    ]
    return "\n".join(out) + "\n"


def _diff_line(kind: str, text: str) -> str:
    return click.style(f"  {kind} {shown(text, LINE)}", fg=SYMBOLS.get(kind, "red"))


def dry_run_text(results: list[NodeResult]) -> str:
    """`push --dry-run`: per router, what a push would change (the lines `diff`
    shows), that it is in sync, or that it was not checked and why."""
    out = ["dry run: no router was changed"]
    for r in results:
        colour = COLOURS.get(r.result, "white")
        if r.result == "would push":
            out.append(click.style(f"{r.node}: would push", fg=colour, bold=True))
            out += [_diff_line(*line.split(" ", 1)) for line in r.changed]
        elif r.result == "unchanged":
            out.append(click.style(f"{r.node}: unchanged (in sync)", fg=colour))
        else:
            why = shown(r.error or "", LINE)
            out.append(click.style(f"{r.node}: {r.result} — {why}", fg=colour))
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
                shown(s.last_error or "-", 60),
            )
        )
    return table(rows)


def status_json(states: list[NodeState]) -> str:
    return json.dumps([s.__dict__ for s in states], indent=2) + "\n"
