"""lab/recorder.py: what the lab NOC's Alertmanager delivered, by webhook and by mail."""

from __future__ import annotations

import http.client
import json
import smtplib
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from lab.recorder import MAX_BODY, Journal, read, smtp_server, webhook_server

LOOPBACK = "127.0.0.1"


@contextmanager
def _running(server: ThreadingHTTPServer | socketserver.TCPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "notifications.jsonl"


@pytest.fixture
def webhook(out: Path) -> Iterator[int]:
    with _running(webhook_server(LOOPBACK, 0, Journal(out))) as port:
        yield port


@pytest.fixture
def smtp(out: Path) -> Iterator[int]:
    with _running(smtp_server(LOOPBACK, 0, Journal(out))) as port:
        yield port


def _post(port: int, path: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


ALERTMANAGER_BODY = {
    "version": "4",
    "status": "firing",
    "receiver": "responders",
    "alerts": [{"status": "firing", "labels": {"alertname": "NationalShutdown"}}],
}


def test_webhook_post_is_recorded(webhook: int, out: Path) -> None:
    assert _post(webhook, "/alerts", json.dumps(ALERTMANAGER_BODY).encode()) == 200
    [entry] = read(out)
    assert entry["kind"] == "webhook" and entry["path"] == "/alerts"
    assert entry["body"] == ALERTMANAGER_BODY
    assert isinstance(entry["received"], float)


def test_each_post_is_one_line_in_order(webhook: int, out: Path) -> None:
    for number in range(3):
        assert _post(webhook, f"/n{number}", json.dumps({"n": number}).encode()) == 200
    entries = read(out)
    assert [(e["path"], e["body"]) for e in entries] == [(f"/n{n}", {"n": n}) for n in range(3)]
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3


def test_a_body_that_is_not_json_is_kept_as_text(webhook: int, out: Path) -> None:
    assert _post(webhook, "/alerts", b"not {json") == 200
    assert read(out)[0]["body"] == "not {json"


def test_a_body_over_the_cap_is_refused_and_not_recorded(webhook: int, out: Path) -> None:
    # Only the announced size is needed: the recorder must refuse before reading a byte.
    with socket.create_connection((LOOPBACK, webhook), timeout=5) as sock:
        sock.sendall(
            b"POST /alerts HTTP/1.1\r\nHost: noc\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {MAX_BODY + 1}\r\n\r\n".encode()
            + b"{"
        )
        answer = sock.makefile("rb").readline()
    assert answer.split()[1] == b"413", answer
    assert read(out) == []


def test_a_body_at_the_cap_is_recorded(webhook: int, out: Path) -> None:
    body = json.dumps({"pad": "x" * (MAX_BODY - 20)}).encode()
    assert len(body) <= MAX_BODY
    assert _post(webhook, "/alerts", body) == 200
    assert read(out)[0]["body"]["pad"] == "x" * (MAX_BODY - 20)


def test_a_negative_size_is_refused(webhook: int, out: Path) -> None:
    assert _post(webhook, "/alerts", b"{}", {"Content-Length": "-1"}) == 413
    assert read(out) == []


def test_a_size_that_is_no_number_is_a_bad_request(webhook: int, out: Path) -> None:
    assert _post(webhook, "/alerts", b"{}", {"Content-Length": "two"}) == 400
    assert read(out) == []


def test_mail_is_recorded_with_subject_sender_and_recipients(smtp: int, out: Path) -> None:
    message = EmailMessage()
    message["Subject"] = "[FIRING:1] RouterDown leaf-hillside"
    message["From"] = "alertmanager@riverside.test"
    message["To"] = "noc@riverside.test"
    message.set_content("leaf-hillside has not answered for 3 scrapes\n.\nnot the end\n")
    with smtplib.SMTP(LOOPBACK, smtp, timeout=5) as client:
        refused = client.send_message(
            message, to_addrs=["noc@riverside.test", "oncall@riverside.test"]
        )
    assert refused == {}
    [entry] = read(out)
    assert entry["kind"] == "email"
    assert entry["from"] == "alertmanager@riverside.test"
    assert entry["to"] == ["noc@riverside.test", "oncall@riverside.test"]
    assert entry["subject"] == "[FIRING:1] RouterDown leaf-hillside"
    assert entry["size"] >= len(message.get_content())


def test_two_messages_in_one_session_are_two_entries(smtp: int, out: Path) -> None:
    with smtplib.SMTP(LOOPBACK, smtp, timeout=5) as client:
        for number in range(2):
            body = f"Subject: alert {number}\r\n\r\nbody {number}\r\n"
            client.sendmail(f"a{number}@noc.test", [f"b{number}@noc.test"], body)
    entries = read(out)
    assert [(e["from"], e["to"], e["subject"]) for e in entries] == [
        ("a0@noc.test", ["b0@noc.test"], "alert 0"),
        ("a1@noc.test", ["b1@noc.test"], "alert 1"),
    ]


def test_webhook_and_mail_share_one_journal(tmp_path: Path) -> None:
    out = tmp_path / "both.jsonl"
    journal = Journal(out)
    with (
        _running(webhook_server(LOOPBACK, 0, journal)) as web,
        _running(smtp_server(LOOPBACK, 0, journal)) as mail,
    ):
        assert _post(web, "/alerts", b"{}") == 200
        with smtplib.SMTP(LOOPBACK, mail, timeout=5) as client:
            client.sendmail("am@noc.test", ["noc@noc.test"], "Subject: hi\r\n\r\nx\r\n")
    assert [e["kind"] for e in read(out)] == ["webhook", "email"]


def test_read_of_a_missing_journal_is_empty(tmp_path: Path) -> None:
    assert read(tmp_path / "nothing-yet.jsonl") == []
