"""Text for an 80-column terminal: width in terminal columns, cut with an ellipsis.

What Prometheus, Alertmanager or an agent said is escaped first
(controller.push.report.shown); these count what is left.
"""

from __future__ import annotations

import unicodedata

from controller.push.report import shown

ELLIPSIS = "…"


def char_columns(c: str) -> int:
    # wide East Asian characters take two; a combining mark counts one (where a
    # terminal does not combine it, it takes one)
    return 2 if unicodedata.east_asian_width(c) in "WF" else 1


def columns(text: str) -> int:
    """Terminal columns `text` takes at most."""
    return sum(char_columns(c) for c in text)


def cut(text: str, width: int) -> str:
    """`text` (already escaped) cut to `width` columns, with `…` where it was cut."""
    if columns(text) <= width:
        return text
    kept, used = [], 1  # the ellipsis
    for c in text:
        used += char_columns(c)
        if used > width:
            break
        kept.append(c)
    return "".join(kept) + ELLIPSIS


def fit(text: str, width: int) -> str:
    """`text` escaped and cut to `width` columns."""
    return cut(shown(text, 4 * width + 4), width)
