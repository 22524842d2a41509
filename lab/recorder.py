"""The lab NOC's notification recorder: `python -m lab.recorder --address A --out FILE`.

Stands in for the responders' webhook and the NOC team's mail server, so the
lab can show (and its tests check) what Alertmanager really delivered:

    HTTP POST on WEBHOOK_PORT   each body (Alertmanager's webhook JSON) is one line
                                {"kind": "webhook", "path", "received", "body"}
    SMTP on SMTP_PORT           each message is one line {"kind": "email", "from",
                                "to", "received", "subject", "size"}

FILE is JSON lines, appended and flushed per notification. Bodies are capped
(MAX_BODY) and clients that stall are dropped after TIMEOUT seconds. It binds
to the NOC's address inside the lab's NOC namespace only.
"""

from __future__ import annotations

import argparse
import json
import socketserver
import threading
import time
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WEBHOOK_PORT = 9099  # the example inventory's webhook: http://NOC:9099/alerts
SMTP_PORT = 2525  # the example inventory's noc.smtp.smarthost
MAX_BODY = 1024 * 1024
TIMEOUT = 10.0


class Journal:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        line = json.dumps({"received": time.time(), **entry}, sort_keys=True) + "\n"
        with self._lock, self._path.open("a", encoding="utf-8") as out:
            out.write(line)
            out.flush()


def read(path: Path) -> list[dict[str, Any]]:
    """Every notification recorded so far (none yet: empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def webhook_server(address: str, port: int, journal: Journal) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        timeout = TIMEOUT

        def do_POST(self) -> None:
            try:
                size = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.send_error(400, "bad Content-Length")
                return
            if not 0 <= size <= MAX_BODY:
                self.send_error(413)
                return
            raw = self.rfile.read(size)
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            journal.add({"kind": "webhook", "path": self.path, "body": body})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    return server


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for Alertmanager (EHLO, MAIL, RCPT, DATA, QUIT; no TLS, no AUTH)."""

    timeout = TIMEOUT
    journal: Journal

    def say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.say("220 lab-noc recorder ESMTP")
        sender, rcpts = "", []
        while line := self.rfile.readline(4096):
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.say("250 lab-noc")
            elif verb == b"MAIL":
                sender = _address(line)
                self.say("250 ok")
            elif verb == b"RCPT":
                rcpts.append(_address(line))
                self.say("250 ok")
            elif verb == b"DATA":
                self.say("354 end with .")
                message = self._data()
                headers = BytesHeaderParser().parsebytes(message)
                self.journal.add(
                    {
                        "kind": "email",
                        "from": sender,
                        "to": rcpts,
                        "subject": str(headers.get("Subject", "")),
                        "size": len(message),
                    }
                )
                sender, rcpts = "", []
                self.say("250 queued")
            elif verb in (b"RSET", b"NOOP"):
                self.say("250 ok")
            elif verb == b"QUIT":
                self.say("221 bye")
                return
            else:
                self.say("502 not here")

    def _data(self) -> bytes:
        lines = []
        size = 0
        while (line := self.rfile.readline(65536)) not in (b".\r\n", b".\n", b""):
            size += len(line)
            if size <= MAX_BODY:
                lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)


def _address(line: bytes) -> str:
    text = line.decode("ascii", "replace")
    return text[text.find("<") + 1 : text.rfind(">")] if "<" in text else text.split(":")[-1]


class _ThreadingTcp(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def smtp_server(address: str, port: int, journal: Journal) -> socketserver.ThreadingTCPServer:
    handler = type("Smtp", (_Smtp,), {"journal": journal})
    return _ThreadingTcp((address, port), handler)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.recorder")
    parser.add_argument("--address", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--webhook-port", type=int, default=WEBHOOK_PORT)
    parser.add_argument("--smtp-port", type=int, default=SMTP_PORT)
    args = parser.parse_args()
    journal = Journal(args.out)
    servers = [
        webhook_server(args.address, args.webhook_port, journal),
        smtp_server(args.address, args.smtp_port, journal),
    ]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
