"""The lab's HTTP and HTTPS servers: a fixed body per Host, block pages, resets.

HTTP answers GET and HEAD with the body of the site named by the Host header,
404 for any other host. A `block` rule answers a block page (451) or resets
the connection (TCP RST) instead. HTTPS is the same behind TLS: the
certificate is chosen by SNI (`sni_callback`), and a `block` rule on the
SNI resets the connection before the server sends a byte, as a censor that
reads the ClientHello does.
"""

from __future__ import annotations

import http.server
import io
import re
import socket
import ssl
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lab.services import events
from lab.services.clienthello import NeedMore, client_hello_sni
from lab.services.config import (
    Certificate,
    HttpBlock,
    HttpService,
    TlsBlock,
    TlsService,
)
from lab.services.errors import CertificateError
from lab.services.names import most_specific, normalize_name

IDLE_SECONDS = 10.0
HELLO_WAIT_SECONDS = 5.0
_BULK_PATH = re.compile(r"/bytes/([0-9]{1,10})")
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class WebSettings:
    """What one http or tls listener serves."""

    sites: Mapping[str, str]
    block: Mapping[str, HttpBlock] = field(default_factory=dict)
    blockpage: str = ""
    bulk_max_bytes: int = 0
    tls: ssl.SSLContext | None = None
    sni_block: Mapping[str, TlsBlock] = field(default_factory=dict)


def http_settings(service: HttpService) -> WebSettings:
    return WebSettings(service.sites, service.block, service.blockpage, service.bulk_max_bytes)


def tls_settings(service: TlsService) -> WebSettings:
    """Settings with the certificates loaded; raises CertificateError when one cannot be."""
    return WebSettings(
        service.sites,
        bulk_max_bytes=service.bulk_max_bytes,
        tls=server_context(service.certificates),
        sni_block=service.block,
    )


def server_context(certificates: Sequence[Certificate]) -> ssl.SSLContext:
    """A server context that presents the certificate whose names match the SNI.

    The first certificate is the default: no SNI, or a name none of them has.
    """
    choices = [(cert.names, _context(cert)) for cert in certificates]

    def choose(connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        if server_name is None:
            return
        name = normalize_name(server_name)
        for names, context in choices:
            if any(_cert_name_matches(pattern, name) for pattern in names):
                connection.context = context
                return

    default = choices[0][1]
    default.sni_callback = choose
    return default


def _context(certificate: Certificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certificate.cert, certificate.key)
    except (OSError, ssl.SSLError) as exc:
        raise CertificateError(
            f"{certificate.cert}: cannot load the certificate and key {certificate.key} ({exc}) "
            "— make them with lab.services.ca"
        ) from exc
    context.set_alpn_protocols(["http/1.1"])
    return context


def _cert_name_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def reset(sock: socket.socket) -> None:
    """Close `sock` with a TCP RST (SO_LINGER 0), as a censor's injected reset looks."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


def request_host(header: str | None) -> str | None:
    """The host of a Host header, lower case, without port or trailing dot."""
    if not header:
        return None
    host = header.strip()
    if host.startswith("["):
        return host[1 : host.find("]")].lower() if "]" in host else None
    name, colon, port = host.rpartition(":")
    if colon and port.isascii() and port.isdigit():
        host = name
    return normalize_name(host)


class WebHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; one log line per request."""

    protocol_version = "HTTP/1.1"
    server_version = "meshkeeper-lab"
    sys_version = ""
    timeout = IDLE_SECONDS

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:  # the name http.server dispatches to
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, *, send_body: bool) -> None:
        server: Any = self.server
        settings: WebSettings = server.settings
        host = request_host(self.headers.get("Host"))
        rule = most_specific(settings.block, host) if host else None
        if rule is not None:
            self._blocked(settings, settings.block[rule], host, send_body=send_body)
        elif host is not None and host in settings.sites:
            self._site(settings, host, settings.sites[host], send_body=send_body)
        else:
            self._send(404, b"no such site in the lab\n", host, send_body=send_body)

    def _blocked(
        self, settings: WebSettings, mode: HttpBlock, host: str | None, *, send_body: bool
    ) -> None:
        if mode == "blockpage":
            page = settings.blockpage.encode("utf-8")
            self._send(451, page, host, send_body=send_body, block=mode)
            return
        self._log(host, status=None, size=0, block=mode)
        self.close_connection = True
        # The reader and writer hold the socket open; close them so the RST goes now,
        # and leave http.server empty ones to finish the request with.
        self.rfile.close()
        self.wfile.close()
        reset(self.connection)
        self.rfile, self.wfile = io.BytesIO(), io.BytesIO()

    def _site(self, settings: WebSettings, host: str, body: str, *, send_body: bool) -> None:
        bulk = _BULK_PATH.fullmatch(self.path)
        if bulk is None or settings.bulk_max_bytes == 0:
            self._send(200, body.encode("utf-8"), host, send_body=send_body)
            return
        size = int(bulk.group(1))
        if size > settings.bulk_max_bytes:
            message = f"at most {settings.bulk_max_bytes} bytes\n".encode()
            self._send(400, message, host, send_body=send_body)
            return
        self._headers(200, size, "application/octet-stream")
        if send_body:
            chunk = bytes(_CHUNK)
            for start in range(0, size, _CHUNK):
                self.wfile.write(chunk[: min(_CHUNK, size - start)])
        self._log(host, status=200, size=size)

    def _send(
        self,
        status: int,
        body: bytes,
        host: str | None,
        *,
        send_body: bool,
        block: str | None = None,
    ) -> None:
        self._headers(status, len(body), "text/plain; charset=utf-8")
        if send_body:
            self.wfile.write(body)
        self._log(host, status=status, size=len(body), block=block)

    def _headers(self, status: int, length: int, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _log(
        self, host: str | None, *, status: int | None, size: int, block: str | None = None
    ) -> None:
        server: Any = self.server
        events.log(
            "http.request",
            listener=server.label,
            peer=self.client_address[0],
            method=self.command,
            host=host,
            path=self.path,
            status=status if status is not None else "reset",
            bytes=size,
            block=block,
        )

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: `_log` writes one structured line per request instead."""

    def log_error(self, format: str, *args: Any) -> None:
        server: Any = self.server
        events.warn(
            "http.error", listener=server.label, peer=self.client_address[0], error=format % args
        )


class TlsWebHandler(WebHandler):
    """HTTPS: peek the SNI (and reset when blocked), then the handshake, then HTTP."""

    _was_reset = False

    def setup(self) -> None:
        server: Any = self.server
        settings: WebSettings = server.settings
        raw: socket.socket = self.request
        raw.settimeout(IDLE_SECONDS)
        if settings.sni_block:
            sni = _peek_sni(raw)
            rule = most_specific(settings.sni_block, sni) if sni else None
            if rule is not None:
                events.log("tls.reset", listener=server.label, peer=self.client_address[0], sni=sni)
                self._was_reset = True
                reset(raw)
                return
        assert settings.tls is not None  # noqa: S101  # tls listeners always have a context
        self.request = settings.tls.wrap_socket(raw, server_side=True)
        super().setup()

    def handle(self) -> None:
        if not self._was_reset:
            super().handle()

    def finish(self) -> None:
        if self._was_reset:
            return
        try:
            super().finish()
        finally:
            self.request.close()


def _peek_sni(sock: socket.socket) -> str | None:
    """The SNI of the ClientHello waiting on `sock`, read without taking it off the socket."""
    deadline = time.monotonic() + HELLO_WAIT_SECONDS
    while True:
        try:
            data = sock.recv(5 + 16384, socket.MSG_PEEK)
        except OSError:
            return None
        try:
            return client_hello_sni(data)
        except NeedMore:
            if not data or time.monotonic() > deadline:
                return None
            time.sleep(0.01)  # the rest of the hello is on its way; peeking again would spin
