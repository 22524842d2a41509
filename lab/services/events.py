"""One log line per event, on stderr, in logfmt: `dns.query listener=... name=... rcode=...`.

Values come from the network (query names, Host headers, SNI), so every value
is escaped: a hostile name can neither split a line nor forge a field.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

LOGGER = logging.getLogger("lab.services")
_LIMIT = 200


def clean(value: object) -> str:
    """`value` as one logfmt token: printable, quoted when it holds a space, `=` or `"`."""
    text = str(value)
    if len(text) > _LIMIT:
        text = text[:_LIMIT] + "..."
    escaped = "".join(c if c.isprintable() and c not in '\\"' else _escape(c) for c in text)
    if escaped == "" or any(c in escaped for c in ' ="'):
        return f'"{escaped}"'
    return escaped


def _escape(char: str) -> str:
    if char in '\\"':
        return "\\" + char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def log(event: str, **fields: object) -> None:
    """Log `event` with `fields`, one line; a None field is left out."""
    parts = [
        event,
        *(f"{key}={clean(value)}" for key, value in fields.items() if value is not None),
    ]
    LOGGER.info(" ".join(parts))


def warn(event: str, **fields: object) -> None:
    """Like `log`, at warning level: something an operator should look at."""
    parts = [
        event,
        *(f"{key}={clean(value)}" for key, value in fields.items() if value is not None),
    ]
    LOGGER.warning(" ".join(parts))


def to_stderr(stream: TextIO | None = None) -> None:
    """Send the service log to `stream` (stderr), one line per event."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)s %(message)s", "%H:%M:%S")
    )
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False
