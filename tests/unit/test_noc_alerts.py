"""`meshkeeper alerts`: reading Alertmanager (or Prometheus) and showing it to a responder.

The fakes are real HTTP servers on 127.0.0.1 answering what Alertmanager 0.25's
API v2 and Prometheus 2.42's /api/v1/alerts answer (recorded shapes); the test
against the real Alertmanager is test_noc_alerts_real.py.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from controller.noc import alerts as am
from controller.noc import api
from controller.noc.alerts import Alert, AlertsView, NocUnreachable

NOW = 1_714_558_320.5  # 2024-05-01T10:12:00.5Z
SINCE = "2024-05-01T10:00:00.123Z"  # 12 min before NOW


# --- fakes --------------------------------------------------------------------------


class Fake:
    """One HTTP service: path → (status, body); remembers what it was asked."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.asked: list[tuple[str, dict[str, list[str]]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                fake.asked.append((url.path, urllib.parse.parse_qs(url.query)))
                status, body = fake.answers.get(url.path, (404, b"404 page not found\n"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def answer(self, path: str, document: object, status: int = 200) -> None:
        self.answers[path] = (status, json.dumps(document).encode())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def alertmanager() -> Iterator[Fake]:
    fake = Fake()
    yield fake
    fake.close()


@pytest.fixture
def prometheus() -> Iterator[Fake]:
    fake = Fake()
    yield fake
    fake.close()


@pytest.fixture
def closed() -> str:
    """A URL on which nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def am_alert(
    name: str,
    severity: str = "warning",
    category: str = "node",
    scope: str = "router",
    summary: str = "",
    description: str = "",
    starts_at: str = SINCE,
    state: str = "active",
    **labels: str,
) -> dict[str, Any]:
    """One item as Alertmanager 0.25 answers GET /api/v2/alerts."""
    return {
        "annotations": {"description": description, "summary": summary or f"{name} summary"},
        "endsAt": "2024-05-01T10:17:00.000Z",
        "fingerprint": f"{abs(hash((name, tuple(labels.items())))):016x}"[:16],
        "receivers": [{"name": "noc"}],
        "startsAt": starts_at,
        "status": {"inhibitedBy": [], "silencedBy": [], "state": state},
        "updatedAt": "2024-05-01T10:12:00.000Z",
        "generatorURL": "http://noc:9090/graph?g0.expr=meshkeeper_verdict&g0.tab=1",
        "labels": {
            "alertname": name,
            "severity": severity,
            "category": category,
            "scope": scope,
            **labels,
        },
    }


def prom_alert(name: str, severity: str, state: str = "firing", **labels: str) -> dict[str, Any]:
    """One item as Prometheus 2.42 answers GET /api/v1/alerts."""
    return {
        "labels": {"alertname": name, "severity": severity, "category": "node", **labels},
        "annotations": {"summary": f"{name} summary", "description": "evidence"},
        "state": state,
        "activeAt": "2024-05-01T12:00:00.123456789+02:00",
        "value": "1e+00",
    }


def prom_answer(*items: object) -> dict[str, Any]:
    return {"status": "success", "data": {"alerts": list(items)}}


FLEET = am_alert(
    "NationalShutdown",
    "critical",
    "shutdown",
    "fleet",
    summary="Domestic and international targets dead on every uplink",
    description="Every gateway sees its ISP's first hop but no domestic target.\n"
    "Routers: gw-market, gw-school.",
)
LINK = am_alert("LinkDown", "warning", "link", "link", node="gw-market", neighbor="relay-hill")
BLOCKED = am_alert(
    "PlatformBlocked",
    "warning",
    "shutdown",
    "uplink",
    node="gw-market",
    uplink="wan",
    platform="whatsapp",
    layer="tls_sni",
)
PUSH = am_alert("PushRolledBack", "info", "push", "router", node="leaf-3")
ODD = am_alert("SomethingElse", "page", "noc", "fleet")


def fetch(alertmanager: str | None, prometheus: str | None = None) -> AlertsView:
    return am.fetch_alerts(alertmanager, prometheus, timeout=5.0)


# --- reading Alertmanager -------------------------------------------------------------


def test_alertmanager_answer_becomes_alerts(alertmanager: Fake) -> None:
    alertmanager.answer("/api/v2/alerts", [LINK, FLEET])
    view = fetch(alertmanager.url)
    assert alertmanager.asked == [
        ("/api/v2/alerts", {"active": ["true"], "silenced": ["false"], "inhibited": ["false"]})
    ]
    assert (view.source, view.fallback_reason, view.skipped) == ("alertmanager", None, 0)
    assert view.alerts[0] == Alert(
        name="NationalShutdown",
        severity="critical",
        category="shutdown",
        scope="fleet",
        labels={},
        summary="Domestic and international targets dead on every uplink",
        description=FLEET["annotations"]["description"],
        since=1_714_557_600.123,
        state="firing",
        source="alertmanager",
    )
    assert view.alerts[1].labels == {"node": "gw-market", "neighbor": "relay-hill"}


def test_text_groups_by_severity_then_category_and_scope(alertmanager: Fake) -> None:
    alertmanager.answer("/api/v2/alerts", [PUSH, ODD, LINK, BLOCKED, FLEET])
    text = am.alerts_text(fetch(alertmanager.url), NOW)
    heads = [line for line in text.splitlines() if line and not line.startswith(" ")]
    assert heads == [
        "5 active alerts (source: alertmanager), 1 critical",
        "CRITICAL (1)",
        "WARNING (2)",
        "INFO (1)",
        "OTHER (1)",
    ]
    groups = [line.strip() for line in text.splitlines() if line.startswith("  ") and "/" in line]
    assert groups[:5] == [
        "shutdown / fleet",
        "link / link",
        "shutdown / uplink",
        "push / router",
        "noc / fleet",
    ]
    assert text.index("NationalShutdown") < text.index("LinkDown") < text.index("PlatformBlocked")
    assert "    SomethingElse (severity page)\n" in text
    assert "      node gw-market, neighbor relay-hill\n" in text
    assert "node gw-market, uplink wan, platform whatsapp, layer tls_sni\n" in text
    assert "      since 2024-05-01 10:00:00 UTC, for 12 min\n" in text
    assert "      Domestic and international targets dead on every uplink\n" in text
    assert "        Every gateway sees its ISP's first hop but no domestic target.\n" in text
    assert "        Routers: gw-market, gw-school.\n" in text


def test_description_is_wrapped_to_the_width_and_indented(alertmanager: Fake) -> None:
    words = " ".join(f"word{i}" for i in range(60))
    alertmanager.answer("/api/v2/alerts", [am_alert("Long", description=words)])
    text = am.alerts_text(fetch(alertmanager.url), NOW, width=50)
    described = [line for line in text.splitlines() if "word" in line]
    assert len(described) > 5
    assert all(line.startswith(" " * 8) and len(line) <= 50 for line in described)
    assert " ".join(line.strip() for line in described) == words  # no word lost or cut


@pytest.mark.parametrize(
    ("items", "critical"),
    [
        ([FLEET, LINK], True),
        ([LINK, PUSH, ODD], False),
        ([], False),
        # Alertmanager's own states other than active are shown but do not page
        ([am_alert("Muted", "critical", state="suppressed")], False),
        ([am_alert("New", "critical", state="unprocessed")], True),
    ],
)
def test_critical_means_a_critical_alert_is_firing(
    alertmanager: Fake, items: list[object], critical: bool
) -> None:
    alertmanager.answer("/api/v2/alerts", items)
    view = fetch(alertmanager.url)
    assert view.critical is critical
    assert am.exit_status(view) == (1 if critical else 0)


def test_no_alerts_says_so_with_the_source(alertmanager: Fake) -> None:
    alertmanager.answer("/api/v2/alerts", [])
    view = fetch(alertmanager.url)
    assert am.alerts_text(view, NOW) == "no active alerts (source: alertmanager)\n"


# --- falling back to Prometheus ----------------------------------------------------------


def test_refused_alertmanager_falls_back_to_prometheus(closed: str, prometheus: Fake) -> None:
    prometheus.answer(
        "/api/v1/alerts",
        prom_answer(
            prom_alert("LinkDown", "warning", node="gw-market", neighbor="relay-hill"),
            prom_alert("NationalShutdown", "critical", state="pending"),
            prom_alert("AgentDown", "critical", node="leaf-3"),
        ),
    )
    view = fetch(closed, prometheus.url)
    assert view.source == "prometheus"
    assert view.fallback_reason is not None
    port = closed.rsplit(":", 1)[1]
    assert view.fallback_reason.startswith(
        f"Alertmanager did not answer: cannot ask 127.0.0.1:{port}"
    )
    assert "refused" in view.fallback_reason.lower()
    assert [a.name for a in view.alerts] == ["AgentDown", "LinkDown"]  # pending one left out
    assert view.pending == 1
    assert view.critical
    assert {a.source for a in view.alerts} == {"prometheus"}
    assert view.alerts[0].since == pytest.approx(1_714_557_600.123456789)
    text = am.alerts_text(view, NOW)
    assert "(source: prometheus)" in text.splitlines()[0]
    assert "not from Alertmanager — Alertmanager did not answer: cannot ask" in text
    assert "1 pending alert(s) (not firing yet) left out" in text


def test_without_an_alertmanager_url_prometheus_answers(prometheus: Fake) -> None:
    prometheus.answer("/api/v1/alerts", prom_answer(prom_alert("LinkDown", "warning")))
    view = fetch(None, prometheus.url)
    assert (view.source, view.fallback_reason) == ("prometheus", "no Alertmanager URL given")
    assert len(view.alerts) == 1


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, b"<html>not json</html>", "did not answer JSON"),
        (500, b'{"error": "boom"}', "answered HTTP 500"),
        (200, b'{"alerts": []}', "did not answer a list of alerts"),
        (200, b"null", "did not answer a list of alerts"),
    ],
)
def test_an_unusable_alertmanager_answer_falls_back(
    alertmanager: Fake, prometheus: Fake, status: int, body: bytes, reason: str
) -> None:
    alertmanager.answers["/api/v2/alerts"] = (status, body)
    prometheus.answer("/api/v1/alerts", prom_answer())
    view = fetch(alertmanager.url, prometheus.url)
    assert view.source == "prometheus"
    assert view.fallback_reason is not None
    assert reason in view.fallback_reason


def test_an_alertmanager_answer_bigger_than_the_cap_falls_back(
    alertmanager: Fake, prometheus: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "MAX_BODY", 64 * 1024)
    alertmanager.answer("/api/v2/alerts", [LINK] * 200)  # ~160 kB
    prometheus.answer("/api/v1/alerts", prom_answer())
    view = fetch(alertmanager.url, prometheus.url)
    assert view.fallback_reason is not None
    assert "answered more than" in view.fallback_reason


def test_neither_reachable_is_noc_unreachable_naming_both(closed: str) -> None:
    with pytest.raises(NocUnreachable) as caught:
        fetch(closed, f"{closed}/prometheus")
    where = closed.removeprefix("http://")
    message = str(caught.value)
    assert message.startswith(f"Alertmanager did not answer: cannot ask {where}: ")
    assert f"; Prometheus did not answer either: cannot ask {where}: " in message
    assert caught.value.exit_code == am.EXIT_UNREACHABLE == 4


@pytest.mark.parametrize(
    "document",
    [
        {"status": "error", "errorType": "internal", "error": "boom"},
        {"status": "success", "data": {"alerts": {}}},
        {"status": "success"},
        [],
    ],
)
def test_a_prometheus_answer_of_another_shape_is_unreachable(
    closed: str, prometheus: Fake, document: object
) -> None:
    prometheus.answer("/api/v1/alerts", document)
    with pytest.raises(NocUnreachable, match=r"did not answer \{status: success"):
        fetch(closed, prometheus.url)


def test_alertmanager_alone_unreachable(closed: str) -> None:
    with pytest.raises(NocUnreachable, match=r"^Alertmanager: cannot ask 127\.0\.0\.1:"):
        fetch(closed)


def test_no_url_at_all() -> None:
    with pytest.raises(NocUnreachable, match="neither an Alertmanager nor a Prometheus URL"):
        fetch(None, None)


# --- hostile and malformed answers --------------------------------------------------------


def _broken(change: dict[str, Any]) -> dict[str, Any]:
    item = am_alert("Broken", "critical")
    item.update(change)
    return item


MALFORMED: list[object] = [
    1,
    "alert",
    None,
    [LINK],
    {},
    _broken({"labels": None}),
    _broken({"labels": ["alertname", "x"]}),
    _broken({"labels": {"alertname": "x", "node": 7}}),
    _broken({"annotations": {"summary": {"nested": True}}}),
    _broken({"annotations": "summary"}),
    _broken({"status": "active"}),
    _broken({"status": {"state": None}}),
    _broken({"startsAt": None}),
    _broken({"startsAt": "yesterday"}),
    _broken({"startsAt": 1714557600}),
    _broken({"startsAt": "2024-02-30T10:00:00Z"}),
    _broken({"startsAt": "2024-05-01T10:00:00+24:00"}),
    _broken({"startsAt": "9999-12-31T23:59:59-01:00"}),
    _broken({"startsAt": "2024-05-01T10:00:00.1234567890Z"}),
    _broken({"startsAt": "2024-05-01T10:00:00Z" + " " * 10_000}),
]


def test_malformed_items_are_skipped_and_counted(alertmanager: Fake) -> None:
    alertmanager.answer("/api/v2/alerts", [*MALFORMED[:10], LINK, *MALFORMED[10:]])
    view = fetch(alertmanager.url)
    assert [a.name for a in view.alerts] == ["LinkDown"]
    assert view.skipped == len(MALFORMED)
    assert not view.critical  # the broken critical ones are not read as anything
    text = am.alerts_text(view, NOW)
    assert f"{len(MALFORMED)} item(s) not shaped like an alert, not shown" in text
    assert json.loads(am.alerts_json(view, NOW))["skipped"] == len(MALFORMED)


def test_malformed_prometheus_items_are_skipped_and_counted(closed: str, prometheus: Fake) -> None:
    odd_state = prom_alert("Odd", "critical", state="inactive")
    prometheus.answer(
        "/api/v1/alerts", prom_answer(prom_alert("Fine", "info"), 7, {"labels": {}}, odd_state)
    )
    view = fetch(closed, prometheus.url)
    assert ([a.name for a in view.alerts], view.skipped) == (["Fine"], 3)


def test_alerts_beyond_the_cap_leave_out_the_least_severe(alertmanager: Fake) -> None:
    many = [am_alert("Chatter", "info", node=f"n{i}") for i in range(am.MAX_ALERTS + 5)]
    alertmanager.answer("/api/v2/alerts", [*many, FLEET])
    view = fetch(alertmanager.url)
    assert len(view.alerts) == am.MAX_ALERTS
    assert view.truncated == 6
    assert view.critical and view.alerts[0].name == "NationalShutdown"
    header = am.alerts_text(
        AlertsView(view.alerts[:1], view.source, truncated=view.truncated), NOW
    ).splitlines()[:2]
    assert header == [
        "1 active alert (source: alertmanager), 1 critical",
        "  more than 10,000 alerts: 6 least severe left out",
    ]


ESC = "\x1b[2J\x1b]0;owned\x07"
HOSTILE = am_alert(
    "Owned" + ESC + "x" * 500,
    "critical",
    "shutdown\x1b[31m",
    "fleet\nCRITICAL (0)",
    summary="<script>alert(1)</script>\n\r" + ESC + "s" * 10_000,
    description=("line\x9b31m\u202eevil\nCRITICAL (0)\n" + "d" * 5000 + "\n") * 40,
    node="gw\n" + "n" * 5000,
    neighbor="\u202erelay" + ESC,
    isp="\u5927\u304d\u3044" * 200,  # wide characters: two columns each
    **{f"extra{i}": "v" * 100 for i in range(30)},
)


@pytest.mark.parametrize("width", [20, 40, 80, 132])
def test_hostile_values_never_reach_the_text_raw(alertmanager: Fake, width: int) -> None:
    alertmanager.answer("/api/v2/alerts", [HOSTILE, LINK])
    text = am.alerts_text(fetch(alertmanager.url), NOW, width=width)
    for raw in ("\x1b", "\x07", "\x9b", "\u202e", "\r"):
        assert raw not in text
    lines = text.splitlines()
    assert all(am.columns(line) <= width for line in lines), max(lines, key=am.columns)
    assert len(text) < 20_000  # 10 kB values are cut, not printed
    # only meshkeeper's own lines start at the margin: a value cannot forge a header
    margin = [line for line in lines if line and not line.startswith(" ")]
    assert margin[0].startswith("2 active alerts")
    assert margin[1:] == ["CRITICAL (1)", "WARNING (1)"]
    if width >= 80:
        assert "\\x1b[2J" in text and "\\n" in text  # escaped, visibly
        assert "<script>alert(1)</script>\\n\\r\\x1b" in text  # inert on a terminal
        assert "        … (the whole description: --json)" in lines
        assert "(+23 more labels: --json)" in text.replace("\n        ", " ")


def test_hostile_values_stay_raw_but_escaped_in_json(alertmanager: Fake) -> None:
    alertmanager.answer("/api/v2/alerts", [HOSTILE])
    document = am.alerts_json(fetch(alertmanager.url), NOW)
    assert document.isascii()
    assert "\x1b" not in document and "\n" not in json.dumps(json.loads(document))[1:-1]
    alert = json.loads(document)["alerts"][0]
    assert alert["summary"] == HOSTILE["annotations"]["summary"]
    assert alert["labels"]["node"] == "gw\n" + "n" * 5000
    assert alert["scope"] == "fleet\nCRITICAL (0)"


# --- JSON ---------------------------------------------------------------------------------


def test_json_round_trips_with_the_expected_fields(alertmanager: Fake) -> None:
    alertmanager.answer("/api/v2/alerts", [LINK, FLEET])
    document = json.loads(am.alerts_json(fetch(alertmanager.url), NOW))
    assert document == {
        "source": "alertmanager",
        "fallback_reason": None,
        "critical": True,
        "skipped": 0,
        "truncated": 0,
        "pending": 0,
        "alerts": [
            {
                "name": "NationalShutdown",
                "severity": "critical",
                "category": "shutdown",
                "scope": "fleet",
                "state": "firing",
                "labels": {},
                "summary": FLEET["annotations"]["summary"],
                "description": FLEET["annotations"]["description"],
                "since": "2024-05-01T10:00:00Z",
                "duration_seconds": 720.377,
                "source": "alertmanager",
            },
            {
                "name": "LinkDown",
                "severity": "warning",
                "category": "link",
                "scope": "link",
                "state": "firing",
                "labels": {"neighbor": "relay-hill", "node": "gw-market"},
                "summary": "LinkDown summary",
                "description": "",
                "since": "2024-05-01T10:00:00Z",
                "duration_seconds": 720.377,
                "source": "alertmanager",
            },
        ],
    }


def test_json_and_text_do_not_depend_on_the_answer_order(alertmanager: Fake) -> None:
    items = [PUSH, ODD, LINK, BLOCKED, FLEET, am_alert("LinkDown", node="a", neighbor="b")]
    outputs = set()
    for seed in range(5):
        random.Random(seed).shuffle(items)  # noqa: S311 - an order, not a secret
        alertmanager.answer("/api/v2/alerts", items)
        view = fetch(alertmanager.url)
        outputs.add(am.alerts_json(view, NOW) + am.alerts_text(view, NOW))
    assert len(outputs) == 1


def test_json_of_a_fallback_carries_the_reason(closed: str, prometheus: Fake) -> None:
    prometheus.answer("/api/v1/alerts", prom_answer(prom_alert("LinkDown", "warning")))
    document = json.loads(am.alerts_json(fetch(closed, prometheus.url), NOW))
    assert document["source"] == "prometheus"
    assert document["fallback_reason"].startswith("Alertmanager did not answer: cannot ask")
    assert document["alerts"][0]["since"] == "2024-05-01T10:00:00Z"
    assert document["alerts"][0]["source"] == "prometheus"


# --- pieces -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "unix"),
    [
        ("2024-05-01T10:00:00Z", 1_714_557_600.0),
        ("2024-05-01T10:00:00.123Z", 1_714_557_600.123),
        ("2024-05-01t10:00:00z", 1_714_557_600.0),
        ("2018-07-04T20:27:12.60602144+02:00", 1_530_728_832.60602144),
        ("2024-05-01T04:30:00-05:30", 1_714_557_600.0),
        ("1970-01-01T00:00:00.000000001Z", 1e-9),
        ("0001-01-01T00:00:00Z", -62_135_596_800.0),  # Go's zero time
    ],
)
def test_parse_time_reads_what_go_writes(text: str, unix: float) -> None:
    assert am.parse_time(text) == pytest.approx(unix, abs=1e-6)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0 s"),
        (42, "42 s"),
        (720, "12 min"),
        (3 * 3600 + 720, "3 h 12 min"),
        (5 * 86400 + 10800, "5 days 3 h"),
    ],
)
def test_duration_in_a_responders_words(seconds: float, text: str) -> None:
    assert am.duration(seconds) == text


def test_an_alert_from_the_future_is_for_0_s(alertmanager: Fake) -> None:
    alertmanager.answer("/api/v2/alerts", [am_alert("Skewed", starts_at="2024-05-01T11:00:00Z")])
    view = fetch(alertmanager.url)
    assert "      since 2024-05-01 11:00:00 UTC, for 0 s\n" in am.alerts_text(view, NOW)
    assert json.loads(am.alerts_json(view, NOW))["alerts"][0]["duration_seconds"] == 0
