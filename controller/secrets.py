"""Secret references, resolved only when needed and never shown.

An inventory holds `{env: NAME}` or `{file: PATH}`, never a secret. `resolve`
returns a `SecretValue` whose repr and str are redacted, so a secret that
reaches a log line, a traceback or a diff by mistake still shows as `<secret>`.
"""

from __future__ import annotations

import os
from pathlib import Path

from controller.errors import SecretError
from controller.model.types import EnvSecret, FileSecret

REDACTED = "<secret>"


class SecretValue:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def resolve(ref: EnvSecret | FileSecret, root: Path) -> SecretValue:
    """The secret behind `ref`; `root` is the inventory directory for relative files."""
    if isinstance(ref, EnvSecret):
        value = os.environ.get(ref.env)
        if value is None:
            raise SecretError(
                f"{ref}: the environment variable {ref.env} is not set — "
                f"export {ref.env}=... before running meshkeeper"
            )
        return SecretValue(value)
    path = Path(ref.file).expanduser()
    if not path.is_absolute():
        path = root / path
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SecretError(
            f"{ref}: cannot read {path} ({reason}) — create it or fix the path"
        ) from None
    # A trailing newline is an editor's, not part of the secret.
    return SecretValue(text[:-1] if text.endswith("\n") else text)
