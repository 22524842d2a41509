"""Turn pydantic's validation errors into operator problems: what, and what to do."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from controller.errors import Location, Problem
from controller.model.schema import EMAIL, Node
from controller.model.sources import Path, dotted, shown

# Field names whose input must never be echoed: the operator may have pasted a secret.
_SENSITIVE = frozenset({"key", "password", "webhook", "secret"})

_PATTERNS = {
    r"^[A-Z]{2}$": "a two-letter uppercase country code such as KE or BR",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name (letters, digits, _)",
    r"^[a-z_][a-z0-9_-]{0,31}$": "a Unix user name such as root",
    r"^[0-9]+[smhdwy]$": "a duration such as 30s, 15m or 30d",
    r"^[A-Za-z0-9_.@-]{1,15}$": "a Linux device name of at most 15 characters (eth0, lan1, wan)",
    r"^[a-z0-9][a-z0-9_.-]{0,62}$": "a short lowercase name (letters, digits, . _ -)",
    r"^[A-Za-z0-9.-]{1,253}$": "a DNS name such as example.org",
    EMAIL: "an e-mail address",
}

Locator = Callable[[Path], tuple[Location, Path]]
_LONGEST_NAME = 253  # a DNS name; nothing longer is a typo of a known name


def validation_problems(
    exc: ValidationError, data: Any, model: type[BaseModel], base: Path, locator: Locator
) -> list[Problem]:
    """Problems for every error of `exc`, validated from `data` at merged path `base`."""
    seen: set[Path] = set()
    out = []
    for err in exc.errors(include_url=False):
        inner = _clean_loc(err, data)
        if inner in seen:  # a union reports one error per member: keep the first
            continue
        seen.add(inner)
        location, shown = locator(base + inner)
        what, todo = _describe(err, model, inner)
        out.append(Problem(location, dotted(shown), what, todo))
    return out


def _clean_loc(err: ErrorDetails, data: Any) -> Path:
    """Drop union-member tags from pydantic's loc by walking the real input."""
    loc = err["loc"]
    out: list[str | int] = []
    current: Any = data
    for index, step in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(current, dict) and step in current:
            current = current[step]
            step = str(step)  # `1:` under nodes is a key, not the list index [1]
        elif isinstance(current, list) and isinstance(step, int) and 0 <= step < len(current):
            current = current[step]
        elif last and err["type"] == "missing":
            pass
        else:
            continue
        out.append(step)
    return tuple(out)


def _describe(err: ErrorDetails, model: type[BaseModel], loc: Path) -> tuple[str, str]:
    kind = err["type"]
    ctx = err.get("ctx", {})
    safe = not (_SENSITIVE & {str(step) for step in loc})
    value = err.get("input")
    if kind == "missing":
        return "is required", "add it"
    if kind == "extra_forbidden":
        return "is not a known field", _suggest(str(loc[-1]) if loc else "", _allowed(model, loc))
    if kind == "value_error":
        text = str(ctx.get("error", err["msg"]))
        what, _, todo = text.partition(" — ")
        return what, todo or "fix the value"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        quoted = f"{shown(value)} is" if safe else "is"
        return f"{quoted} not one of: {expected}", "use one of these values"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        quoted = f"{shown(value)} is" if safe else "is"
        return f"{quoted} not {_PATTERNS.get(pattern, 'of the expected form')}", "correct the value"
    simple = _SIMPLE.get(kind)
    if simple is not None:
        return simple[0].format(**ctx, type=type(value).__name__), simple[1]
    return err["msg"], "fix the value"


_SIMPLE = {
    "string_type": ("must be text, not {type}", "quote the value"),
    "int_type": ("must be a whole number, not {type}", "write a number without quotes or dots"),
    "int_parsing": ("must be a whole number", "write a number without quotes or dots"),
    "int_from_float": ("must be a whole number", "drop the fraction"),
    "bool_type": ("must be true or false", "write true or false"),
    "bool_parsing": ("must be true or false", "write true or false"),
    "dict_type": ("must be a mapping (key: value lines), not {type}", "write it as a mapping"),
    "model_type": ("must be a mapping (key: value lines), not {type}", "write it as a mapping"),
    "model_attributes_type": (
        "must be a mapping (key: value lines), not {type}",
        "write it as a mapping",
    ),
    "list_type": ("must be a list, not {type}", "write it as a list (- item lines)"),
    "too_short": ("needs at least {min_length} item(s)", "add the missing items"),
    "greater_than_equal": ("must be at least {ge}", "raise the value"),
    "less_than_equal": ("must be at most {le}", "lower the value"),
    "string_too_short": ("is empty", "give it a value"),
    "string_too_long": ("is longer than {max_length} characters", "shorten it"),
    "union_tag_invalid": ("is not a known kind", "use one of the documented forms"),
}


def _allowed(model: type[BaseModel], loc: Path) -> list[str]:
    current: Any = model
    for step in loc[:-1]:
        current = _step(current, step)
        if current is None:
            return []
    current = _unwrap_model(current)
    if current is None:
        return []
    # `name` of a node is its key in `nodes:`, never written as a field.
    return sorted(f for f in current.model_fields if not (f == "name" and current is Node))


def _step(annotation: Any, step: str | int) -> Any:
    model = _unwrap_model(annotation)
    if model is not None:
        field = model.model_fields.get(str(step))
        return field.annotation if field is not None else None
    for arg in _members(annotation):
        origin = typing.get_origin(arg)
        if origin is dict:
            return typing.get_args(arg)[1]
        if origin is list and isinstance(step, int):
            return typing.get_args(arg)[0]
    return None


def _members(annotation: Any) -> Iterable[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _suggest(name: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1) if len(name) <= _LONGEST_NAME else []
    if close:
        return f"did you mean {close[0]!r}?"
    if allowed:
        return f"remove it or use one of: {', '.join(allowed)}"
    return "remove it"


def one_of(name: str, known: Iterable[str], what: str, *, suggest: bool = True) -> str:
    """The todo for an unknown name: the likely intended one, or the choices.

    `suggest=False` for numbered names (radio0, radio1) where "close" means nothing.
    """
    choices = sorted(known)
    lowered = {choice.lower(): choice for choice in choices}
    suggest = suggest and len(name) <= _LONGEST_NAME  # difflib is quadratic: no megabyte names
    close = difflib.get_close_matches(name.lower(), lowered, n=1, cutoff=0.75) if suggest else []
    if close:
        return f"did you mean {lowered[close[0]]!r}?"
    if not choices:
        return f"define {what} first"
    listed = ", ".join(c if len(c) <= _LONGEST_NAME else shown(c) for c in choices[:8])
    return f"use one of: {listed}" + (", ..." if len(choices) > 8 else "")
