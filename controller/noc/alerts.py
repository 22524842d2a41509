"""`meshkeeper alerts`: what is firing now, for a responder, from the NOC.

Alertmanager is asked first (API v2, active alerts that are neither silenced
nor inhibited: what the routes would page about). If it cannot be reached
and a Prometheus URL is given, Prometheus's own list (/api/v1/alerts) stands
in: only its firing alerts are kept; pending ones (the condition holds but not
yet for the rule's `for`) are left out and counted. The view records that the
fallback was used and why. Each service gets its own `timeout`.

Their answers carry label values the agents chose, and anyone who can reach
Alertmanager's API can post an alert, so every item is checked: one that is
not shaped like an alert is skipped and counted (never a traceback), at most
MAX_ALERTS are kept (the most severe first), and every value is escaped and
cut (controller.push.report.shown) and fitted to the terminal's width before
it is printed. The JSON output keeps the raw values (JSON escapes them).

Exit status of the command:
    0  nothing critical is firing
    1  at least one alert with severity=critical is firing
    4  neither Alertmanager nor Prometheus gave a usable answer (NocUnreachable)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from controller.noc.api import NocUnreachable, get_json
from controller.noc.terminal import columns
from controller.noc.terminal import cut as fit
from controller.push.report import shown

MAX_ALERTS = 10_000
SEVERITIES = ("critical", "warning", "info")  # then every other value, as "other"
OWN_LABELS = ("alertname", "severity", "category", "scope")  # Alert's own fields
WHERE = ("node", "uplink", "isp", "platform", "layer", "target", "neighbor", "medium")

EXIT_OK = 0
EXIT_CRITICAL = 1
EXIT_UNREACHABLE = NocUnreachable.exit_code

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d\d):(\d\d))"
)
_FIRST = (datetime(1, 1, 1, tzinfo=timezone.utc) - _EPOCH).total_seconds()
_LAST = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc) - _EPOCH).total_seconds()
_NAME = 60  # characters of an alert name in the text
_VALUE = 40  # of one label value
_LABELS = 10  # labels shown per alert (--json has them all)
_SUMMARY = 200
_DESCRIPTION = 2000
_DESCRIPTION_LINES = 12


class _Malformed(ValueError):
    """One item of an answer is not shaped like an alert."""


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    category: str
    scope: str
    labels: dict[str, str]  # the others: node, uplink, isp, platform, layer, neighbor...
    summary: str
    description: str
    since: float  # unix time: Alertmanager's startsAt; Prometheus's activeAt (`for` included)
    state: str  # "firing" (Alertmanager's active/unprocessed, Prometheus's firing) or as given
    source: str  # "alertmanager" | "prometheus"

    @property
    def firing(self) -> bool:
        return self.state == "firing"


@dataclass
class AlertsView:
    alerts: list[Alert]  # sorted: most severe first (sort_key)
    source: str  # "alertmanager" | "prometheus"
    fallback_reason: str | None = None  # why Alertmanager was not the source
    skipped: int = 0  # items not shaped like an alert
    truncated: int = 0  # alerts beyond MAX_ALERTS, left out (the least severe)
    pending: int = 0  # Prometheus only: pending alerts, left out

    @property
    def critical(self) -> bool:
        """A critical alert is firing."""
        return any(a.firing and a.severity == "critical" for a in self.alerts)


def exit_status(view: AlertsView) -> int:
    """The command's exit status for a view it could fetch (see the module docstring)."""
    return EXIT_CRITICAL if view.critical else EXIT_OK


# --- fetching ----------------------------------------------------------------------


def fetch_alerts(alertmanager: str | None, prometheus: str | None, timeout: float) -> AlertsView:
    """Active alerts from Alertmanager, else Prometheus; NocUnreachable when neither answers."""
    if alertmanager is None and prometheus is None:
        raise NocUnreachable(
            "neither an Alertmanager nor a Prometheus URL is known — give one (http://HOST:PORT)"
        )
    if alertmanager is not None:
        try:
            return _from_alertmanager(alertmanager, timeout)
        except NocUnreachable as exc:
            if prometheus is None:
                raise NocUnreachable(f"Alertmanager: {exc}") from exc
            reason = f"Alertmanager did not answer: {exc}"
    else:
        reason = "no Alertmanager URL given"
    try:
        view = _from_prometheus(prometheus or "", timeout)
    except NocUnreachable as exc:
        raise NocUnreachable(f"{reason}; Prometheus did not answer either: {exc}") from exc
    view.fallback_reason = reason
    return view


def _from_alertmanager(base: str, timeout: float) -> AlertsView:
    params = {"active": "true", "silenced": "false", "inhibited": "false"}
    answer = get_json(base, "/api/v2/alerts", params, timeout)
    if not isinstance(answer, list):
        raise NocUnreachable("/api/v2/alerts did not answer a list of alerts")
    view = AlertsView([], "alertmanager")
    alerts = []
    for item in answer:
        try:
            alerts.append(_alertmanager_alert(item))
        except _Malformed:
            view.skipped += 1
    return _kept(view, alerts)


def _from_prometheus(base: str, timeout: float) -> AlertsView:
    answer = get_json(base, "/api/v1/alerts", None, timeout)
    data = answer.get("data") if isinstance(answer, dict) else None
    items = data.get("alerts") if isinstance(data, dict) else None
    if (
        not isinstance(answer, dict)
        or answer.get("status") != "success"
        or not isinstance(items, list)
    ):
        raise NocUnreachable("/api/v1/alerts did not answer {status: success, data: {alerts}}")
    view = AlertsView([], "prometheus")
    alerts = []
    for item in items:
        try:
            alert = _prometheus_alert(item)
        except _Malformed:
            view.skipped += 1
            continue
        if alert.state == "pending":
            view.pending += 1
        elif alert.firing:
            alerts.append(alert)
        else:
            view.skipped += 1  # Prometheus lists only pending and firing alerts
    return _kept(view, alerts)


def _kept(view: AlertsView, alerts: list[Alert]) -> AlertsView:
    alerts.sort(key=sort_key)
    view.truncated = max(0, len(alerts) - MAX_ALERTS)
    view.alerts = alerts[:MAX_ALERTS]
    return view


def _alertmanager_alert(item: object) -> Alert:
    item = _mapping(item)
    status = _mapping(item.get("status", {}))
    state = _text(status.get("state", "active"))
    firing = state in ("active", "unprocessed")
    return _alert(item, item.get("startsAt"), "firing" if firing else state, "alertmanager")


def _prometheus_alert(item: object) -> Alert:
    item = _mapping(item)
    return _alert(item, item.get("activeAt"), _text(item.get("state")), "prometheus")


def _alert(item: dict[str, Any], since: object, state: str, source: str) -> Alert:
    labels = _strings(item.get("labels"))
    annotations = _strings(item.get("annotations", {}))
    return Alert(
        name=labels.get("alertname", ""),
        severity=labels.get("severity", ""),
        category=labels.get("category", ""),
        scope=labels.get("scope", ""),
        labels={k: v for k, v in labels.items() if k not in OWN_LABELS},
        summary=annotations.get("summary", ""),
        description=annotations.get("description", ""),
        since=parse_time(_text(since)),
        state=state,
        source=source,
    )


def _mapping(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed("not an object")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _Malformed("not a string")
    return value


def _strings(value: object) -> dict[str, str]:
    mapping = _mapping(value)
    if not all(isinstance(v, str) for v in mapping.values()):
        raise _Malformed("a label or annotation that is not a string")
    return mapping


def parse_time(text: str) -> float:
    """RFC 3339 (as Go writes it: up to nanoseconds, Z or an offset) → unix time."""
    match = _RFC3339.fullmatch(text) if len(text) <= 40 else None
    if match is None:
        raise _Malformed("not an RFC 3339 time")
    *date, fraction, zulu, sign, off_h, off_m = match.groups()
    minutes = 0 if zulu else (int(off_h) * 60 + int(off_m)) * (1 if sign == "+" else -1)
    try:
        zone = timezone(timedelta(minutes=minutes))
        year, month, day, hour, minute, second = (int(part) for part in date)
        moment = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError as exc:  # February 30th, an offset of 24 h or more
        raise _Malformed("not a date") from exc
    seconds = (moment - _EPOCH).total_seconds()
    if not _FIRST <= seconds <= _LAST:  # a time in UTC Python cannot write
        raise _Malformed("a time past year 9999 or before year 1")
    return seconds + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def sort_key(alert: Alert) -> tuple[int, str, str, str, tuple[tuple[str, str], ...], float, str]:
    """Most severe first, then category, scope, name, where, oldest first."""
    rank = SEVERITIES.index(alert.severity) if alert.severity in SEVERITIES else len(SEVERITIES)
    where = tuple(sorted(alert.labels.items()))
    return (rank, alert.category, alert.scope, alert.name, where, alert.since, alert.summary)


# --- output ------------------------------------------------------------------------


def alerts_json(view: AlertsView, now: float) -> str:
    """A stable JSON document of the view; values as the source gave them."""
    document = {
        "source": view.source,
        "fallback_reason": view.fallback_reason,
        "critical": view.critical,
        "skipped": view.skipped,
        "truncated": view.truncated,
        "pending": view.pending,
        "alerts": [
            {
                "name": a.name,
                "severity": a.severity,
                "category": a.category,
                "scope": a.scope,
                "state": a.state,
                "labels": a.labels,
                "summary": a.summary,
                "description": a.description,
                "since": rfc3339(a.since),
                "duration_seconds": round(max(0.0, now - a.since), 3),
                "source": a.source,
            }
            for a in sorted(view.alerts, key=sort_key)
        ],
    }
    # ensure_ascii: no control or bidi character reaches a terminal that shows it
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def rfc3339(unix: float) -> str:
    return (_EPOCH + timedelta(seconds=unix)).strftime("%Y-%m-%dT%H:%M:%SZ")


def alerts_text(view: AlertsView, now: float, width: int = 80) -> str:
    """Grouped by severity, then category/scope; every line at most `width` (20 or
    more) columns."""
    width = max(width, 20)
    lines = _header(view, width)
    group: tuple[str, str, str] | None = None
    for alert in sorted(view.alerts, key=sort_key):
        severity = _severity(alert)
        if group is None or group[0] != severity:
            count = sum(1 for a in view.alerts if _severity(a) == severity)
            lines += ["", f"{severity.upper()} ({count})"]
        if group is None or group != (severity, alert.category, alert.scope):
            where = f"{shown(alert.category or '-', _VALUE)} / {shown(alert.scope or '-', _VALUE)}"
            lines.append(f"  {where}")
        group = (severity, alert.category, alert.scope)
        lines += _alert_lines(alert, now, width)
    return "".join(fit(line, width) + "\n" for line in lines)


def _severity(alert: Alert) -> str:
    return alert.severity if alert.severity in SEVERITIES else "other"


def _header(view: AlertsView, width: int) -> list[str]:
    count = len(view.alerts)
    critical = sum(a.firing and a.severity == "critical" for a in view.alerts)
    if not view.alerts:
        head = f"no active alerts (source: {view.source})"
    else:
        head = f"{count} active alert{'s' if count != 1 else ''} (source: {view.source})"
        head += f", {critical} critical" if critical else ", none critical"
    notes = []
    if view.fallback_reason:
        notes.append(f"not from Alertmanager — {shown(view.fallback_reason, 400)}")
    if view.pending:
        notes.append(f"{view.pending} pending alert(s) (not firing yet) left out")
    if view.skipped:
        notes.append(f"{view.skipped} item(s) not shaped like an alert, not shown (see the source)")
    if view.truncated:
        notes.append(f"more than {MAX_ALERTS:,} alerts: {view.truncated:,} least severe left out")
    lines = _wrap(head, width, "", "  ")
    return lines + [line for note in notes for line in _wrap(note, width, "  ", "    ")]


def _alert_lines(alert: Alert, now: float, width: int) -> list[str]:
    name = shown(alert.name or "(no alertname)", _NAME)
    if alert.severity not in SEVERITIES and alert.severity:
        name += f" (severity {shown(alert.severity, _VALUE)})"
    if not alert.firing:
        name += f" [{shown(alert.state, _VALUE)}]"
    lines = [f"    {name}"]
    keys = _where(alert)
    where = ", ".join(
        f"{shown(k, _VALUE)} {shown(alert.labels[k], _VALUE)}" for k in keys[:_LABELS]
    )
    if len(keys) > _LABELS:
        where = f"{where}, … (+{len(keys) - _LABELS} more labels: --json)"
    if where:
        lines += _wrap(where, width, "      ", "        ")
    since = f"since {_when(alert.since)}, for {duration(now - alert.since)}"
    lines += _wrap(since, width, "      ", "        ")
    if alert.summary:
        lines += _wrap(shown(alert.summary, _SUMMARY), width, "      ", "      ")
    paragraphs = alert.description[:_DESCRIPTION].split("\n")
    text = [line for p in paragraphs for line in _wrap(shown(p, _DESCRIPTION), width, " " * 8)]
    if len(text) > _DESCRIPTION_LINES:
        text[_DESCRIPTION_LINES - 1 :] = ["        … (the whole description: --json)"]
    return lines + text


def _where(alert: Alert) -> list[str]:
    """Label names with a value: node, uplink, ... first, then the others by name."""
    keys = [key for key in WHERE if alert.labels.get(key)]
    keys += sorted(key for key in alert.labels if key not in WHERE and alert.labels[key])
    return keys


def _when(unix: float) -> str:
    return (_EPOCH + timedelta(seconds=unix)).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float) -> str:
    """`42 s`, `12 min`, `3 h 12 min`, `5 days 3 h`."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 48 * 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days {s % 86400 // 3600} h"


# --- terminal columns -------------------------------------------------------------


def _wrap(text: str, width: int, first: str, rest: str | None = None) -> list[str]:
    """Words of `text` in lines of at most `width` columns, indented; long words broken."""
    rest = first if rest is None else rest
    room = max(10, width - max(len(first), len(rest)))
    pieces = [piece for word in text.split(" ") if word for piece in _chunks(word, room)]
    lines: list[str] = []
    line = ""
    for piece in pieces:
        if line and columns(line) + 1 + columns(piece) <= room:
            line += " " + piece
        else:
            if line:
                lines.append(line)
            line = piece
    if line:
        lines.append(line)
    return [(rest if i else first) + line for i, line in enumerate(lines)]


def _chunks(word: str, room: int) -> list[str]:
    if columns(word) <= room:
        return [word]
    chunks, chunk, used = [], "", 0
    for char in word:
        if used + columns(char) > room:
            chunks.append(chunk)
            chunk, used = "", 0
        chunk += char
        used += columns(char)
    return [*chunks, chunk]
