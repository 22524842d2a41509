"""`meshkeeper status` on a terminal: the fleet table (controller.noc.fleet) in its
width, one line per router, notes under the ones that need a look, a summary."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Iterable

from controller.noc.fleet import (
    DOWN,
    FAILED_PUSH,
    IN_SYNC,
    NO_AGENT,
    NOT_SCRAPED,
    OK,
    PENDING,
    UNKNOWN,
    UP,
    RouterStatus,
    links_down,
)
from controller.noc.scrape import LOCKED
from controller.noc.terminal import columns, fit

HEADER = ("NODE", "PUSH", "AGENT", "CONFIG", "LINKS", "VERDICT")
_CAPS = (18, 16, 6, 16, 7)  # columns of each cell before VERDICT
_GAP = "  "
_INDENT = "    "
_ABBREV = {
    "local_failure": "local",
    "mesh_partition": "partition",
    "isp_outage": "isp_out",
    "international_shutdown": "intl_shut",
    "national_shutdown": "natl_shut",
    "dns_tampering": "dns_tamper",
    "platform_blocked": "blocked",
}


def _pad(text: str, width: int) -> str:
    return text + " " * (width - columns(text))


def fleet_table(rows: list[RouterStatus], width: int = 80) -> str:
    """One line per router (the unhealthy ones with indented lines saying why), then
    a summary; no line wider than `width` terminal columns."""
    cells = [_cells(r) for r in rows]
    widths = [max(columns(c) for c in col) for col in zip(HEADER[:-1], *cells, strict=False)]
    room = max(width - sum(widths) - len(_GAP) * len(widths), 1)
    lines = [_line(HEADER[:-1], widths, HEADER[-1], width)]
    for row, cell in zip(rows, cells, strict=True):
        verdict, whole = _verdict_cell(row.verdict, room)
        lines.append(_line(cell, widths, verdict, width))
        lines += _notes(row, whole, width)
    lines += summary(rows, width)
    return "\n".join(lines) + "\n"


def _line(cells: Iterable[str], widths: list[int], last: str, width: int) -> str:
    text = _GAP.join(_pad(c, w) for c, w in zip(cells, widths, strict=True)) + _GAP + last
    return fit(text.rstrip(), width)


def _cells(r: RouterStatus) -> tuple[str, ...]:
    push = r.push if r.pushed is None else f"{r.push} #{r.pushed}"
    links = "-" if r.links_expected is None else f"{r.links_up}/{r.links_expected}"
    values = (r.node, push, _agent_cell(r.agent), _config_cell(r), links)
    return tuple(fit(v, cap) for v, cap in zip(values, _CAPS, strict=True))


def _agent_cell(agent: str | None) -> str:
    if agent in (None, NOT_SCRAPED, NO_AGENT):
        return "-"
    if agent == LOCKED:
        return "locked"
    return UP if agent == UP else DOWN


def _config_cell(r: RouterStatus) -> str:
    """Short: the generations are in PUSH and in the note under the row."""
    if r.config == UNKNOWN:
        return "-"
    return "pending" if r.config == PENDING else r.config.split(":")[0]


def _verdict_cell(verdict: tuple[str, ...] | None, room: int) -> tuple[str, bool]:
    """The verdict in `room` columns, and whether that shows all of it: each finding
    as written, else with its label values only (`platform_blocked{wan,chat,tls_sni}`),
    then its class abbreviated too (`blocked{wan,chat,tls_sni}`), else the classes
    alone, abbreviated, the findings then in a note under the row."""
    if verdict is None:
        return "-", True
    if not verdict:
        return OK, True
    for findings in (
        verdict,
        [_compact(v, False) for v in verdict],
        [_compact(v, True) for v in verdict],
    ):
        text = ", ".join(fit(v, 200) for v in findings)
        if columns(text) <= room:
            return text, True
    classes = list(dict.fromkeys(_abbrev(v) for v in verdict))
    short = ", ".join(classes)
    if columns(short) <= room:
        return short, False
    return fit(f"{classes[0]} +{len(classes) - 1}", room), False


def _abbrev(finding: str) -> str:
    cls = finding.split("{", 1)[0]
    return _ABBREV.get(cls, fit(cls, 24))


def _compact(finding: str, abbreviate: bool) -> str:
    """`platform_blocked{uplink=wan,platform=chat}` as `platform_blocked{wan,chat}`,
    or `blocked{wan,chat}` abbreviated."""
    cls, _, labels = finding.partition("{")
    name = _ABBREV.get(cls, cls) if abbreviate else cls
    if not labels:
        return name
    values = ",".join(pair.partition("=")[2] for pair in labels.removesuffix("}").split(","))
    return f"{name}{{{values}}}"


def _notes(r: RouterStatus, whole_verdict: bool, width: int) -> list[str]:
    """Indented lines under a router: what its cells could not say."""
    notes = []
    if not r.in_inventory:
        notes.append("not in the inventory any more")
    if r.agent not in (None, UP, DOWN, LOCKED):
        notes.append(f"agent: {r.agent}")
    if r.links_down:
        notes.append("links down: " + ", ".join(fit(n, 40) for n in r.links_down))
    if r.config.startswith(("behind", "ahead")):
        notes.append(f"config {r.config}")
    if r.last_error and r.push in FAILED_PUSH:
        notes.append(f"last error: {' '.join(r.last_error.split())}")
    lines = [fit(_INDENT + n, width) for n in notes]
    if not whole_verdict and r.verdict:
        lines += _wrapped("verdict: " + ", ".join(fit(v, width - 12) for v in r.verdict), width)
    return lines


def _wrapped(text: str, width: int, max_lines: int = 4) -> list[str]:
    # cut by columns afterwards: textwrap counts characters
    wrapped = textwrap.wrap(
        text,
        width=width,
        initial_indent=_INDENT,
        subsequent_indent=_INDENT + "  ",
        break_on_hyphens=False,
        max_lines=max_lines,
        placeholder=" …",
    )
    return [fit(line, width) for line in wrapped]


def summary(rows: list[RouterStatus], width: int = 80) -> list[str]:
    """`8 routers: 8 applied, 8 agents up, 7 in sync, 1 link down, verdict: …`
    (the routers of the inventory; those it no longer has only counted)."""
    ours = [r for r in rows if r.in_inventory]
    head = f"{len(ours)} router{'' if len(ours) == 1 else 's'}"
    if len(ours) != len(rows):
        head += f" (+{len(rows) - len(ours)} no longer in the inventory)"
    parts = [_counted(Counter(r.push for r in ours))] if ours else []
    asked = [r for r in ours if r.agent is not None]
    if asked:
        agents = Counter(_agent_cell(r.agent) for r in asked)
        agents[NOT_SCRAPED] = sum(r.agent == NOT_SCRAPED for r in asked)
        del agents["-"]
        parts.append(f"{agents.pop(UP, 0)} agents up" + _tail(agents))
        configs = Counter(r.config.split(":")[0] for r in asked)
        configs[f"config {UNKNOWN}"] = configs.pop(UNKNOWN, 0)
        parts.append(f"{configs.pop(IN_SYNC, 0)} in sync" + _tail(configs))
        down = sum(links_down(r) for r in asked)
        parts.append(f"{down} link{'' if down == 1 else 's'} down" if down else "all links up")
        parts.append(_verdict_summary(asked))
    text = head + ": " + ", ".join(parts)
    lines = textwrap.wrap(
        text,
        width=width,
        subsequent_indent="  ",
        break_on_hyphens=False,
        max_lines=4,
        placeholder=" …",
    )
    return [fit(line, width) for line in lines]


def _counted(counts: Counter[str]) -> str:
    return ", ".join(f"{n} {fit(what, 30)}" for what, n in sorted(counts.items()) if n)


def _tail(counts: Counter[str]) -> str:
    return "".join(f", {n} {fit(what, 30)}" for what, n in sorted(counts.items()) if n)


def _verdict_summary(rows: list[RouterStatus]) -> str:
    held: Counter[str] = Counter()
    for r in rows:
        held.update({v.split("{", 1)[0] for v in r.verdict or ()})
    said = [
        f"{fit(cls, 30)} on {n}" for cls, n in sorted(held.items(), key=lambda i: (-i[1], i[0]))
    ]
    if not said:
        said = [OK if any(r.verdict is not None for r in rows) else "none reported"]
    return "verdict: " + ", ".join(said)
