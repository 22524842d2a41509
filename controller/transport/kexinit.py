"""What host key algorithms a router offers, read from its clear-text KEXINIT.

paramiko's IncompatiblePeer says only "no acceptable host key"; to tell an
OpenWrt 19.07 router (dropbear 2019.78: `ssh-rsa` only) from anything else,
the failure path opens one more TCP connection, exchanges version lines and
reads the server's first binary packet (RFC 4253 §7.1, sent before any
encryption). Nothing is authenticated and the connection is then dropped.
"""

from __future__ import annotations

import socket
import struct

SSH_MSG_KEXINIT = 20
_CLIENT_VERSION = b"SSH-2.0-meshkeeper_probe\r\n"
_MAX_PACKET = 35000  # RFC 4253 §6.1: implementations must accept this much


def parse_host_key_algorithms(payload: bytes) -> tuple[str, ...]:
    """The `server_host_key_algorithms` name-list of a KEXINIT payload."""
    if len(payload) < 17 or payload[0] != SSH_MSG_KEXINIT:
        raise ValueError("not a KEXINIT message")
    offset = 17  # message byte + 16-byte cookie
    names: list[str] = []
    for _ in range(2):  # kex_algorithms, then server_host_key_algorithms
        if offset + 4 > len(payload):
            raise ValueError("KEXINIT is truncated")
        (length,) = struct.unpack_from(">I", payload, offset)
        offset += 4
        if offset + length > len(payload):
            raise ValueError("KEXINIT is truncated")
        names = payload[offset : offset + length].decode("ascii").split(",")
        offset += length
    return tuple(name for name in names if name)


def read_kexinit(sock: socket.socket) -> bytes:
    """Send our version line, skip the server's, return its KEXINIT payload."""
    sock.sendall(_CLIENT_VERSION)
    stream = sock.makefile("rb")
    for _ in range(50):  # RFC 4253 §4.2: other lines may precede the version
        line = stream.readline(256)
        if not line:
            raise ConnectionError("server closed the connection before its version line")
        if line.startswith(b"SSH-"):
            break
    else:
        raise ConnectionError("no SSH version line from the server")
    header = stream.read(5)
    if len(header) < 5:
        raise ConnectionError("server closed the connection before KEXINIT")
    length, padding = struct.unpack(">IB", header)
    if not 0 < length <= _MAX_PACKET or padding >= length:
        raise ValueError("implausible first packet from the server")
    payload = stream.read(length - 1 - padding)
    return bytes(payload)


def offered_host_key_algorithms(host: str, port: int, timeout: float) -> tuple[str, ...]:
    """Ask the router which host key algorithms it offers (no login)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        return parse_host_key_algorithms(read_kexinit(sock))
