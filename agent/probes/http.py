"""`http`: a plain HTTP/1.1 GET / to the target, the request a censor's middlebox reads.

ok when a whole response arrives with a 2xx or 3xx status. 451 (RFC 7725's
status for a legal block) is `http_blockpage`; any other status is
`http_unexpected_status`. `detail` has the status, the body bytes read and the
page's <title>: a block page gives itself away by its title.

The client is our own (and the throughput probe's, `Exchange`): http.client
cannot leave through a device (base.connect binds it), and the far end may be
a middlebox that stalls or floods. So every read is bounded: the head by
HEAD_LIMIT bytes, a chunk-size line by LINE_LIMIT, the body by the caller's
limit, and all of it by the probe's deadline, checked before every read (a
drip of a byte at a time ends with the budget, not after it).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from agent.config import Target
from agent.probes.base import Request, Result, connect, failure_of, result

HTTP_PORT = 80  # where plain HTTP goes when the target sets no other port (tests move it)
TLS_PORT = 443  # a target's port meant for the tls probe, not this one
HEAD_LIMIT = 16 * 1024
LINE_LIMIT = 1024  # a chunk-size line
BODY_LIMIT = 64 * 1024
RECV_BYTES = 4096
CONNECT_BYTES = 3 * 60  # SYN, SYN-ACK, ACK and the FIN exchange, roughly
TITLE_LIMIT = 80
# A common browser's words: some servers answer other user agents with a 403.
USER_AGENT = "Mozilla/5.0 (compatible; meshkeeper-agent)"
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?:[ \t][^\r\n]*)?")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_TOKEN = re.compile(r"[!-~]+")  # what the request line and Host may hold: no space, no CR/LF


class HttpError(Exception):
    """What the server sent (or did not) is not a response we can read."""

    failure = "unknown_failure"


class Closed(HttpError):
    """The connection closed before the response was whole."""

    failure = "eof_error"


@dataclass(frozen=True)
class Head:
    status: int
    headers: Mapping[str, str]  # names in lower case; a repeated one keeps its last value

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def length(self) -> int | None:
        """The body's length when the head says it; None: it runs until the close."""
        if self.status < 200 or self.status in (204, 304):
            return 0
        text = self.headers.get("content-length")
        if text is None or self.chunked:
            return None
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise HttpError(f"Content-Length {text[:20]!r} is not a length")
        return int(text)


def parse_head(data: bytes) -> Head:
    """The status and headers of a response head (without its blank line)."""
    lines = data.split(b"\n")
    match = _STATUS_LINE.fullmatch(lines[0].rstrip(b"\r"))
    if match is None:
        raise HttpError(f"not an HTTP/1.x status line: {lines[0][:40]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.rstrip(b"\r").partition(b":")
        if not colon or not name or name != name.strip():  # folded lines are obsolete
            raise HttpError(f"not a header line: {line[:40]!r}")
        headers[name.decode("latin-1").lower()] = value.strip().decode("latin-1")
    return Head(int(match.group(1)), headers)


def title_of(body: bytes) -> str:
    """The page's <title>: whitespace collapsed, printable, TITLE_LIMIT characters at most."""
    lower = body.lower()  # found with find(), not a regex: linear in what a hostile page sends
    start = lower.find(b"<title")
    opened = lower.find(b">", start) + 1 if start >= 0 else 0
    end = lower.find(b"</title", opened) if opened else -1
    if end < 0:
        return ""
    text = " ".join(body[opened:end].decode("utf-8", "replace").split())
    return "".join(c for c in text if c.isprintable())[:TITLE_LIMIT]


def status_failure(status: int) -> str:
    if 200 <= status < 400:
        return ""
    return "http_blockpage" if status == 451 else "http_unexpected_status"


def port_for(target: Target) -> int:
    return target.port if target.port and target.port != TLS_PORT else HTTP_PORT


def request_bytes(target: Target, port: int, path: str) -> bytes:
    host = target.host or target.address or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    if port != 80:
        host = f"{host}:{port}"
    if not (_TOKEN.fullmatch(host) and _TOKEN.fullmatch(path) and path.startswith("/")):
        raise HttpError(f"cannot ask for {path[:40]!r} at {host[:60]!r}")
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


class Exchange:
    """One GET: connect, send, the head, then the body as it arrives, all by `deadline`."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.sent = 0
        self.received = 0
        self.sent_at = 0.0  # when the request had gone (time.monotonic())

    def get(self, request: Request, path: str) -> Head:
        target = request.target
        port = port_for(target)
        message = request_bytes(target, port, path)
        self.sent = 60  # the SYN, answered or not
        self.sock = connect(target.address or "", port, request.path, self._left())
        self.sent, self.received = CONNECT_BYTES // 2, CONNECT_BYTES // 2
        self.sock.settimeout(self._left())
        self.sock.sendall(message)
        self.sent += len(message)
        self.sent_at = time.monotonic()
        return self._head()

    def body(self, head: Head, limit: int) -> Iterator[bytes]:
        """The body's bytes as they arrive, `limit` of them at most."""
        taken = 0
        for piece in self._pieces(head):
            piece = piece[: limit - taken]
            taken += len(piece)
            yield piece
            if taken >= limit:
                return

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()

    def _head(self) -> Head:
        searched = 0
        while (end := _HEAD_END.search(self.buffer, searched)) is None:
            if len(self.buffer) > HEAD_LIMIT:
                raise HttpError(f"no end of the head in {HEAD_LIMIT} bytes")
            searched = max(len(self.buffer) - 3, 0)
            self._more("the head")
        head, self.buffer = self.buffer[: end.start()], self.buffer[end.end() :]
        if end.end() > HEAD_LIMIT:
            raise HttpError(f"a head over {HEAD_LIMIT} bytes")
        return parse_head(head)

    def _pieces(self, head: Head) -> Iterator[bytes]:
        length = head.length
        if head.chunked:
            yield from self._chunks()
        elif length is not None:
            yield from self._exactly(length)
        else:
            if self.buffer:
                yield self.buffer
            self.buffer = b""
            while data := self._recv():
                yield data

    def _exactly(self, size: int) -> Iterator[bytes]:
        while size > 0:
            if not self.buffer:
                self._more(f"the body ({size} bytes to come)")
            piece, self.buffer = self.buffer[:size], self.buffer[size:]
            size -= len(piece)
            yield piece

    def _chunks(self) -> Iterator[bytes]:
        while True:
            text = self._line().split(b";", 1)[0].strip()
            if not (0 < len(text) <= 8 and all(c in b"0123456789abcdefABCDEF" for c in text)):
                raise HttpError(f"not a chunk size: {text[:20]!r}")
            size = int(text, 16)
            if size == 0:
                return  # trailers, if any, are left unread: the connection closes
            yield from self._exactly(size)
            if self._line():
                raise HttpError("a chunk longer than its size")

    def _line(self) -> bytes:
        while (end := self.buffer.find(b"\n")) < 0:
            if len(self.buffer) > LINE_LIMIT:
                raise HttpError(f"a chunk-size line over {LINE_LIMIT} bytes")
            self._more("a chunk")
        line, self.buffer = self.buffer[:end], self.buffer[end + 1 :]
        return line.rstrip(b"\r")

    def _more(self, what: str) -> None:
        data = self._recv()
        if not data:
            raise Closed(f"closed before the end of {what}")
        self.buffer += data

    def _recv(self) -> bytes:
        assert self.sock is not None  # noqa: S101  # get() connected before any read
        self.sock.settimeout(self._left())
        data = self.sock.recv(RECV_BYTES)
        self.received += len(data)
        return data

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the probe's time budget is spent")
        return left


def failure_for(exc: OSError | HttpError) -> str:
    return exc.failure if isinstance(exc, HttpError) else failure_of(exc)


def why(exc: OSError | HttpError) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def probe(request: Request) -> Result:
    started = time.monotonic()
    if request.target.address is None:
        return result(request, started, ok=False, failure="unknown_failure", evidence="no address")
    exchange = Exchange(started + request.timeout)
    head, body, problem = None, bytearray(), None
    try:
        head = exchange.get(request, "/")
        for piece in exchange.body(head, BODY_LIMIT):
            body += piece
    except (OSError, HttpError) as exc:
        problem = exc  # after the head, still a result: a block page that stalls is one
    finally:
        exchange.close()
    failure = status_failure(head.status) if head else ""
    failure = failure or (failure_for(problem) if problem else "")
    detail: dict[str, str] = {}
    evidence = why(problem) if problem else ""
    if head is not None:
        title = title_of(bytes(body))
        detail = {"status": str(head.status), "size": str(len(body)), "title": title}
        seen = f"HTTP {head.status}, {len(body)} bytes" + (f", title {title!r}" if title else "")
        evidence = f"{seen}, then {evidence}" if evidence else seen
    return result(
        request,
        started,
        ok=not failure,
        failure=failure,
        evidence=evidence,
        detail=detail,
        sent=exchange.sent,
        received=exchange.received,
    )
