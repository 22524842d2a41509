"""Problems located in the inventory, and a node's problems merged across nodes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from controller.errors import Location, Problem
from controller.model.inventory import Inventory
from controller.model.messages import one_of
from controller.model.sources import Path, dotted

Found = Iterator[Problem]


def at(inv: Inventory, path: Path, what: str, todo: str) -> Problem:
    return Problem(inv.sources.locate(path), dotted(path), what, todo)


@dataclass(frozen=True)
class NodeProblem(Problem):
    """A problem of one node; several nodes sharing one cause are reported once."""

    node: str = ""


@dataclass(frozen=True)
class NodeWarning(NodeProblem):
    """Pointed out, not refused: `check` prints it and still exits 0."""

    def __str__(self) -> str:
        return f"warning: {super().__str__()}"


def at_node(inv: Inventory, name: str, path: Path, what: str, todo: str) -> Problem:
    location, shown = inv.sources.locate_layered(inv.node_layers(name), path)
    return NodeProblem(location, dotted(shown), what, todo, node=name)


def warn_node(inv: Inventory, name: str, path: Path, what: str, todo: str) -> Problem:
    location, shown = inv.sources.locate_layered(inv.node_layers(name), path)
    return NodeWarning(location, dotted(shown), what, todo, node=name)


def node_todo(inv: Inventory, name: str) -> str:
    todo = one_of(name, [*inv.nodes, *inv.invalid_nodes], "nodes")
    return todo if todo.startswith("did you mean") else f"add the node or fix the name ({todo})"


def merge_shared(found: list[Problem]) -> list[Problem]:
    """One line for a cause set in defaults or a profile, naming the nodes it affects."""
    groups: dict[tuple[type, Location, str, str, str], list[str]] = {}
    out: list[Problem] = []
    for problem in found:
        if isinstance(problem, NodeProblem) and not problem.field.startswith("nodes."):
            key = _shared_key(problem)
            if key not in groups:
                groups[key] = []
                out.append(problem)
            groups[key].append(problem.node)
        else:
            out.append(problem)
    merged: list[Problem] = []
    for problem in out:
        if isinstance(problem, NodeProblem) and not problem.field.startswith("nodes."):
            nodes = groups[_shared_key(problem)]
            shown = ", ".join(nodes[:5]) + (f" and {len(nodes) - 5} more" if len(nodes) > 5 else "")
            problem = replace(problem, what=f"{problem.what} (on {shown})")  # keeps a warning one
        merged.append(problem)
    return merged


def _shared_key(problem: Problem) -> tuple[type, Location, str, str, str]:
    return (type(problem), problem.location, problem.field, problem.what, problem.todo)
