"""Errors the controller reports to an operator.

    MeshkeeperError                 root: the CLI catches this, prints, exits non-zero
    ├── InventoryError              the inventory cannot be used (exit 2)
    │     carries a list of Problem (file, line, column, field path, what, what to do)
    ├── UciError                    a UCI file is not valid UCI (file, line)
    └── SecretError                 a secret reference cannot be resolved

Messages say what is wrong and what to do next; they never contain a secret.
"""

from __future__ import annotations

from dataclasses import dataclass


class MeshkeeperError(Exception):
    """Root of every error meshkeeper reports to an operator."""

    exit_code = 1


@dataclass(frozen=True, order=True)
class Location:
    """Where something is in the inventory sources (1-based line and column)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the inventory, located, with the fix."""

    location: Location
    field: str
    what: str
    todo: str

    def __str__(self) -> str:
        field = f" {self.field}:" if self.field else ""
        line = f"{self.location}:{field} {self.what} — {self.todo}"
        # One problem, one line, whatever odd text the inventory held.
        return (
            line
            if line.isprintable()
            else "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)
        )


class InventoryError(MeshkeeperError):
    """The inventory has one or more problems; nothing was written."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=_problem_order)
        super().__init__("\n".join(str(p) for p in self.problems))


def _problem_order(problem: Problem) -> tuple[Location, str, str]:
    return (problem.location, problem.field, problem.what)


class UciError(MeshkeeperError):
    """A UCI file is not valid UCI, as libuci would reject it."""

    exit_code = 2

    def __init__(self, source: str, line: int, what: str) -> None:
        self.source = source
        self.line = line
        self.what = what
        super().__init__(f"{source}:{line}: {what}")


class SecretError(MeshkeeperError):
    """A secret reference ({env: NAME} or {file: PATH}) cannot be resolved."""

    exit_code = 2
