"""A client's request head for the exporter, parsed strictly (what a scraper sends),
and client bytes made safe for a log line."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from agent.contract import CONFIG_PROOF_HEADER

MAX_REQUEST_BYTES = 8192  # a scrape's request line and headers are a few hundred bytes
MAX_HEADERS = 32  # Prometheus sends 6
TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
TARGET = re.compile(rb"/[\x21-\x7e]*")


def printable(data: bytes | str, limit: int = 120) -> str:
    """Client bytes for a log line: all but printable ASCII escaped (no terminal escapes,
    no forged log lines), cut short."""
    text = data[:limit].decode("latin-1") if isinstance(data, bytes) else data[:limit]
    escaped = "".join(
        c if " " <= c <= "~" else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
        for c in text
    )
    return escaped + ("..." if len(data) > limit else "")


def client_key(address: str) -> str:
    """Connections are counted per IPv4 address, per /64 for IPv6 (one host has many)."""
    if ":" not in address:
        return address
    return str(ipaddress.ip_network(f"{address.split('%')[0]}/64", strict=False))


@dataclass
class Request:
    method: str
    path: str
    keep_alive: bool
    headers: dict[str, str]


class BadRequest(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


_SINGLE = {"authorization", "content-length", "transfer-encoding", CONFIG_PROOF_HEADER.lower()}


def parse_request(head: bytes) -> Request:
    """A request head (without its final blank line), strictly: what a scraper sends."""
    lines = head.split(b"\r\n")
    if len(lines) > MAX_HEADERS + 1:
        raise BadRequest(431, "too many header lines")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    if version not in (b"HTTP/1.0", b"HTTP/1.1"):
        raise BadRequest(505 if re.fullmatch(rb"HTTP/\d\.\d", version) else 400, "version")
    if not TOKEN.fullmatch(method) or not TARGET.fullmatch(target):
        raise BadRequest(400, "malformed method or path")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.fullmatch(name) or not FIELD_VALUE.fullmatch(value):
            raise BadRequest(400, "malformed header line")
        key = name.decode("ascii").lower()
        if key in headers and key in _SINGLE:
            raise BadRequest(400, f"{key} given twice")
        headers[key] = value.strip(b" \t").decode("latin-1")
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "close" not in tokens and version == b"HTTP/1.1"  # 1.0: one request
    path = target.decode("ascii").split("?", 1)[0]
    return Request(method.decode("ascii"), path, keep_alive, headers)
