"""TCP echo: every byte a client sends comes back, until it closes or idles.

A target for TCP reachability (a connect that completes) and for round trips
through a throttled path.
"""

from __future__ import annotations

import socketserver
from typing import Any

from lab.services import events

IDLE_SECONDS = 10.0


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock = self.request
        sock.settimeout(IDLE_SECONDS)
        total = 0
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
                total += len(data)
        except (TimeoutError, ConnectionError):
            pass
        server: Any = self.server
        events.log("echo.closed", listener=server.label, peer=self.client_address[0], bytes=total)
