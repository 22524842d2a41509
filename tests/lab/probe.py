"""Tiny probes run inside a lab router (`python3 probe.py KIND ARGS`), printing one word.

Used by the lab tests to see what each fault does at packet level, from where
the agent will stand. Stdlib only; every target is inside the lab.
"""

from __future__ import annotations

import socket
import ssl
import sys

CA = "/etc/ssl/certs/meshkeeper-lab-ca.crt"


def dns(server: str, name: str) -> str:
    query = (
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        + b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
        + b"\x00\x00\x01\x00\x01"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(query, (server, 53))
        try:
            reply = s.recv(512)
        except TimeoutError:
            return "timeout"
    if reply[3] & 0x0F == 3:
        return "nxdomain"
    if reply[7] == 0:
        return "empty"
    return ".".join(str(b) for b in reply[-4:])


def tcp(address: str, port: int) -> str:
    try:
        socket.create_connection((address, port), timeout=2).close()
    except ConnectionRefusedError:
        return "refused"
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__
    return "open"


def https(address: str, host: str) -> str:
    ctx = ssl.create_default_context(cafile=CA)
    try:
        with ctx.wrap_socket(
            socket.create_connection((address, 443), timeout=3), server_hostname=host
        ) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return s.recv(100).decode().split()[1]
    except (ConnectionResetError, ssl.SSLError):
        return "reset"
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__


def http(address: str, host: str) -> str:
    try:
        with socket.create_connection((address, 80), timeout=3) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return s.recv(100).decode().split()[1]
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__


def rate(address: str, host: str, size: int) -> str:
    """kbit/s of an HTTP download of `size` bytes (the endpoint's /bytes/N)."""
    import time

    try:
        with socket.create_connection((address, 80), timeout=10) as s:
            s.sendall(
                f"GET /bytes/{size} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
            )
            start, got = time.monotonic(), 0
            while chunk := s.recv(65536):
                got += len(chunk)
            seconds = time.monotonic() - start
    except OSError as exc:
        return type(exc).__name__
    return str(int(got * 8 / 1000 / max(seconds, 1e-6)))


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    if kind == "dns":
        print(dns(args[0], args[1]))
    elif kind == "tcp":
        print(tcp(args[0], int(args[1])))
    elif kind == "https":
        print(https(args[0], args[1]))
    elif kind == "http":
        print(http(args[0], args[1]))
    elif kind == "rate":
        print(rate(args[0], args[1], int(args[2])))
