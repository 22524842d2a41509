"""`meshkeeper alerts` against the real Alertmanager (Debian's 0.25) on 127.0.0.1.

No gossip (--cluster.listen-address=), one receiver that sends nothing: the
daemon only listens on loopback.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from controller.noc import alerts as am
from controller.noc.config import INHIBIT_RULES

ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")
CONFIG = """\
route:
  receiver: blackhole
receivers:
  - name: blackhole
"""

pytestmark = pytest.mark.skipif(not ALERTMANAGER.exists(), reason="needs prometheus-alertmanager")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(port: int, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, data, {"Content-Type": "application/json"})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def _ready(port: int, daemon: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            pytest.fail(f"alertmanager exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if _request(port, "GET", "/-/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail(f"alertmanager not ready: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[int]:
    """A running Alertmanager; its port."""
    yield from _running(tmp_path, CONFIG)


@pytest.fixture
def inhibiting(tmp_path: Path) -> Iterator[int]:
    """A running Alertmanager with the inhibit rules `monitoring render` writes."""
    text = CONFIG + yaml.safe_dump({"inhibit_rules": INHIBIT_RULES})
    yield from _running(tmp_path, text)


def _running(tmp_path: Path, text: str) -> Iterator[int]:
    config = tmp_path / "alertmanager.yml"
    config.write_text(text, encoding="utf-8")
    log = tmp_path / "alertmanager.log"
    port = _free_port()
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [
                str(ALERTMANAGER),
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _ready(port, daemon, log)
        yield port
    finally:
        daemon.terminate()
        try:
            daemon.wait(5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def _rfc3339(unix: float) -> str:
    seconds, millis = divmod(round(unix * 1000), 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


def _post(port: int, path: str, body: object) -> None:
    status, answer = _request(port, "POST", path, body)
    assert status == 200, answer


def test_the_real_alertmanager_is_read(alertmanager: int) -> None:
    now = time.time()
    started = round(now - 750, 3)  # 12.5 min ago; Alertmanager keeps milliseconds
    shutdown = {
        "labels": {
            "alertname": "NationalShutdown",
            "severity": "critical",
            "category": "shutdown",
            "scope": "fleet",
        },
        "annotations": {
            "summary": "Domestic and international targets dead on every uplink",
            "description": "Every gateway sees its ISP's first hop\nbut no domestic target.",
        },
        "startsAt": _rfc3339(started),
        "generatorURL": "http://noc:9090/graph",
    }
    link = {
        "labels": {
            "alertname": "LinkDown",
            "severity": "warning",
            "category": "link",
            "scope": "link",
            "node": "gw-market",
            "neighbor": "relay-hill",
        },
        "annotations": {"summary": "gw-market lost its link to relay-hill\x1b[2J"},
        "startsAt": _rfc3339(now - 60),
    }
    muted = {
        "labels": {"alertname": "Muted", "severity": "critical", "node": "leaf-3"},
        "annotations": {"summary": "silenced by an operator"},
    }
    _post(alertmanager, "/api/v2/alerts", [shutdown, link, muted])
    _post(
        alertmanager,
        "/api/v2/silences",
        {
            "matchers": [
                {"name": "alertname", "value": "Muted", "isRegex": False, "isEqual": True}
            ],
            "startsAt": _rfc3339(now - 1),
            "endsAt": _rfc3339(now + 3600),
            "createdBy": "test",
            "comment": "maintenance on leaf-3",
        },
    )

    view = am.fetch_alerts(f"http://127.0.0.1:{alertmanager}", None, timeout=5)

    assert (view.source, view.fallback_reason, view.skipped) == ("alertmanager", None, 0)
    assert [(a.name, a.severity, a.state) for a in view.alerts] == [
        ("NationalShutdown", "critical", "firing"),
        ("LinkDown", "warning", "firing"),
    ]  # the silenced one is not shown
    first, second = view.alerts
    assert first.since == pytest.approx(started, abs=0.001)
    assert (first.category, first.scope, first.labels) == ("shutdown", "fleet", {})
    assert first.summary == "Domestic and international targets dead on every uplink"
    assert first.description == shutdown["annotations"]["description"]
    assert second.labels == {"node": "gw-market", "neighbor": "relay-hill"}
    assert second.since == pytest.approx(now - 60, abs=0.001)
    assert view.critical and am.exit_status(view) == 1

    text = am.alerts_text(view, now)
    assert "since" in text and "for 12 min" in text
    assert "\x1b" not in text and "relay-hill\\x1b[2J" in text
    document = json.loads(am.alerts_json(view, now))
    assert document["critical"] is True
    assert [a["name"] for a in document["alerts"]] == ["NationalShutdown", "LinkDown"]


def test_only_a_silenced_critical_alert_is_not_critical(alertmanager: int) -> None:
    now = time.time()
    _post(
        alertmanager,
        "/api/v2/alerts",
        [{"labels": {"alertname": "AgentDown", "severity": "critical", "node": "leaf-3"}}],
    )
    url = f"http://127.0.0.1:{alertmanager}"
    assert am.fetch_alerts(url, None, timeout=5).critical
    _post(
        alertmanager,
        "/api/v2/silences",
        {
            "matchers": [{"name": "node", "value": "leaf-3", "isRegex": False, "isEqual": True}],
            "startsAt": _rfc3339(now - 1),
            "endsAt": _rfc3339(now + 3600),
            "createdBy": "test",
            "comment": "leaf-3 is being replaced",
        },
    )
    view = am.fetch_alerts(url, None, timeout=5)
    assert (view.alerts, view.critical, am.exit_status(view)) == ([], False, 0)
    assert am.alerts_text(view, now) == "no active alerts (source: alertmanager)\n"


def _alert(name: str, severity: str, **labels: str) -> dict[str, object]:
    return {
        "labels": {"alertname": name, "severity": severity, "category": "shutdown",
                   "scope": "fleet", "network": "riverside", **labels},
        "annotations": {"summary": name},
        "startsAt": _rfc3339(time.time() - 60),
    }  # fmt: skip


def _shown(port: int) -> set[tuple[str, str]]:
    view = am.fetch_alerts(f"http://127.0.0.1:{port}", None, 5)
    return {(a.name, a.severity) for a in view.alerts}


def _settled(port: int, done: Callable[[set[tuple[str, str]]], bool]) -> set[tuple[str, str]]:
    """What is shown once the inhibitor has seen the sources (it works asynchronously);
    after 3 s, whatever is shown then."""
    deadline = time.monotonic() + 3
    while not done(shown := _shown(port)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return shown


def test_a_warning_never_mutes_a_page(inhibiting: int) -> None:
    """One gateway's warning NationalShutdown beside a critical InternationalShutdown
    from two ISPs: the page stays, and `meshkeeper alerts` exits 1."""
    _post(inhibiting, "/api/v2/alerts", [
        _alert("NationalShutdown", "warning"),
        _alert("InternationalShutdown", "critical"),
        _alert("ShutdownSuspected", "warning"),
    ])  # fmt: skip
    shown = _settled(inhibiting, lambda s: ("ShutdownSuspected", "warning") not in s)
    assert ("InternationalShutdown", "critical") in shown, shown
    assert ("ShutdownSuspected", "warning") not in shown, shown  # explained by both
    view = am.fetch_alerts(f"http://127.0.0.1:{inhibiting}", None, 5)
    assert am.exit_status(view) == 1


def test_a_critical_national_shutdown_says_the_international_one(inhibiting: int) -> None:
    _post(inhibiting, "/api/v2/alerts", [
        _alert("NationalShutdown", "critical"),
        _alert("InternationalShutdown", "critical"),
        _alert("InternationalShutdown", "warning", network="another-mesh"),
    ])  # fmt: skip
    shown = _settled(inhibiting, lambda s: ("InternationalShutdown", "critical") not in s)
    assert ("NationalShutdown", "critical") in shown
    assert ("InternationalShutdown", "critical") not in shown, shown
    assert ("InternationalShutdown", "warning") in shown, "another network is not muted"
