"""The NOC's alert rules: templates in monitoring/, filled with the contract's names and timing.

monitoring/rules/*.yml are Prometheus rule files, monitoring/tests/*.yml their
promtool unit tests, both written as templates with three kinds of placeholder:

    @NAME@        agent.contract.NAME, an upper-case str constant (@M_VERDICT@,
                  @JOB_AGENTS@): every metric and job name is spelled once, there
    @ROUNDS:n@    n probe rounds, as a Prometheus duration ("180s")
    @SCRAPES:n@   n scrapes of the agents, the same way
    @COLLECTS:n@  n collector runs on the agents (link echoes, babel, config state)

A placeholder that names nothing, or an `@` left over that looks like one, is
an error naming the file and line: a rule must never reach Prometheus with a
name nobody exports. The rules are rendered with the NOC's timing (from the
inventory, controller.noc.config); the tests with DEFAULT_TIMING, which their
input series are written for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from agent import contract
from controller.errors import MeshkeeperError

MONITORING_DIR = Path(__file__).resolve().parents[2] / "monitoring"
RULES_DIR = MONITORING_DIR / "rules"
TESTS_DIR = MONITORING_DIR / "tests"

PLACEHOLDER = re.compile(r"@([^@\s]*)@")
_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_TIMING = re.compile(r"(ROUNDS|SCRAPES|COLLECTS):([1-9][0-9]{0,5})")
_LOOKS_LIKE_ONE = re.compile(r"@[A-Z]")  # what is left once the whole placeholders are gone
_HOW = (
    "write @NAME@ (an upper-case str in agent/contract.py), @ROUNDS:n@, @SCRAPES:n@ or @COLLECTS:n@"
)


@dataclass(frozen=True)
class Timing:
    """How often the NOC's inputs change, in seconds.

    round_seconds   the agents' probe interval (inventory probes.interval): a verdict
                    or a tier's reachability changes at most once a round
    scrape_seconds  how often Prometheus scrapes the agents: the rules are evaluated
                    at this pace
    collect_seconds the agents' collector interval (inventory agent.interval): a link's
                    echo result changes at most this often. Usually the scrape
                    interval; the lab scrapes faster than its agents collect.
    """

    round_seconds: int = 60
    scrape_seconds: int = 15
    collect_seconds: int = 15

    def __post_init__(self) -> None:
        if min(self.round_seconds, self.scrape_seconds, self.collect_seconds) < 1:
            raise MeshkeeperError(
                f"alert timing needs whole seconds >= 1, not round {self.round_seconds!r}"
                f" and scrape {self.scrape_seconds!r} — check probes.interval and agent.interval"
            )

    def duration(self, unit: str, count: int) -> str:
        """`count` rounds, scrapes or collector runs as a Prometheus duration."""
        seconds = {
            "ROUNDS": self.round_seconds,
            "SCRAPES": self.scrape_seconds,
            "COLLECTS": self.collect_seconds,
        }[unit]
        return f"{count * seconds}s"


DEFAULT_TIMING = Timing()


def render_template(text: str, timing: Timing, where: str) -> str:
    """`text` with every placeholder filled; `where` names the template in errors."""
    return "".join(
        _render_line(line, timing, f"{where}:{number}")
        for number, line in enumerate(text.splitlines(keepends=True), start=1)
    )


def _render_line(line: str, timing: Timing, where: str) -> str:
    leftover = _LOOKS_LIKE_ONE.search(PLACEHOLDER.sub("", line))
    if leftover:
        raise MeshkeeperError(
            f"{where}: an unclosed placeholder at {line[leftover.start() :].strip()!r} — {_HOW}"
        )
    return PLACEHOLDER.sub(lambda match: _value(match.group(1), timing, where), line)


def _value(inside: str, timing: Timing, where: str) -> str:
    timed = _TIMING.fullmatch(inside)
    if timed:
        return timing.duration(timed.group(1), int(timed.group(2)))
    value = getattr(contract, inside, None) if _NAME.fullmatch(inside) else None
    if isinstance(value, str):
        return value
    what = "is not a string" if value is not None else "names nothing"
    raise MeshkeeperError(f"{where}: the placeholder @{inside}@ {what} — {_HOW}")


def render_rules(timing: Timing = DEFAULT_TIMING) -> dict[str, str]:
    """monitoring/rules/*.yml rendered: file name -> Prometheus rule file."""
    return _render_folder(RULES_DIR, timing)


def render_tests(timing: Timing = DEFAULT_TIMING) -> dict[str, str]:
    """monitoring/tests/*.yml rendered: file name -> promtool test file. Their
    `rule_files` say ../rules/NAME.yml: write both folders side by side."""
    return _render_folder(TESTS_DIR, timing)


def _render_folder(folder: Path, timing: Timing) -> dict[str, str]:
    files = sorted(folder.glob("*.yml"))
    if not files:
        raise MeshkeeperError(
            f"no alert rule templates in {folder} — meshkeeper renders them from its source"
            " checkout (pip install -e): reinstall it from there"
        )
    return {
        path.name: render_template(
            path.read_text(encoding="utf-8"), timing, str(path.relative_to(MONITORING_DIR.parent))
        )
        for path in files
    }
