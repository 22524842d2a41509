"""A listening socket served by a bounded number of daemon threads.

A listener holds its settings in one attribute that a reload replaces whole;
a handler reads it once per request, so each request sees one config, never
half of two. When every thread is busy a new request is shed (a TCP
connection closed, a datagram dropped) instead of queueing without bound.
"""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from lab.services import events
from lab.services.errors import ListenError
from lab.services.names import IPAddress, endpoint

Settings = TypeVar("Settings")
POLL_SECONDS = 0.2


class _BoundedThreads(socketserver.ThreadingMixIn):
    daemon_threads = True
    block_on_close = False  # stop() drains with a deadline instead
    label = "listener"

    def _init_slots(self, limit: int) -> None:
        self.limit = limit  # a reload may change it: it applies to the next request
        self._active = 0
        self._idle = threading.Condition()

    def process_request(self, request: Any, client_address: Any) -> None:
        server: Any = self  # the socketserver this class is mixed into
        with self._idle:
            busy = self._active >= self.limit
            if not busy:
                self._active += 1
        if busy:
            events.warn("shed", listener=self.label, peer=_peer(client_address))
            server.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except RuntimeError:  # no thread could be started
            self._release()
            server.shutdown_request(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for requests in progress; whether all finished."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # One line, not a traceback: a client that hangs up mid-request is routine.
        error = sys.exc_info()[1]
        events.warn("error", listener=self.label, peer=_peer(client_address), error=repr(error))


class _Serving(Generic[Settings]):
    """What UDP and TCP listeners share: settings, a label, a thread, stop."""

    settings: Settings
    label: str
    _thread: threading.Thread | None = None

    def start(self) -> None:
        server: Any = self
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_SECONDS},
            name=self.label,
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop accepting and close the socket; requests in progress go on (see drain)."""
        server: Any = self
        if self._thread is not None:
            server.shutdown()
            self._thread.join()
        server.server_close()


def _bind(server: Any, kind: str, transport: str, address: IPAddress, port: int) -> None:
    server.address_family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    server.label = f"{kind} {endpoint(address, port)}/{transport}"


class UdpListener(_Serving[Settings], _BoundedThreads, socketserver.UDPServer):
    max_packet_size = 65535

    def __init__(
        self,
        kind: str,
        address: IPAddress,
        port: int,
        handler: type[socketserver.BaseRequestHandler],
        settings: Settings,
        max_concurrent: int,
    ) -> None:
        _bind(self, kind, "udp", address, port)
        self.settings = settings
        self._init_slots(max_concurrent)
        try:
            socketserver.UDPServer.__init__(self, (str(address), port), handler)
        except OSError as exc:
            raise ListenError(f"{self.label}: cannot listen ({exc.strerror})") from exc


class TcpListener(_Serving[Settings], _BoundedThreads, socketserver.TCPServer):
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        kind: str,
        address: IPAddress,
        port: int,
        handler: type[socketserver.BaseRequestHandler],
        settings: Settings,
        max_concurrent: int,
    ) -> None:
        _bind(self, kind, "tcp", address, port)
        self.settings = settings
        self._init_slots(max_concurrent)
        try:
            socketserver.TCPServer.__init__(self, (str(address), port), handler)
        except OSError as exc:
            raise ListenError(f"{self.label}: cannot listen ({exc.strerror})") from exc


Listener = UdpListener[Any] | TcpListener[Any]


def close_all(listeners: Sequence[Listener], drain_seconds: float) -> None:
    """Close `listeners` together, then give their requests `drain_seconds` in all to finish.

    Together, because each one's serve loop notices a shutdown only at its next poll.
    """
    closing = [threading.Thread(target=listener.close) for listener in listeners]
    for thread in closing:
        thread.start()
    for thread in closing:
        thread.join()
    deadline = time.monotonic() + drain_seconds
    for listener in listeners:
        if not listener.drain(max(0.0, deadline - time.monotonic())):
            events.warn("unfinished", listener=listener.label)
        events.log("closed", listener=listener.label)


def _peer(client_address: Any) -> str:
    try:
        return str(client_address[0])
    except (TypeError, IndexError):
        return "?"
