"""The server name (SNI) in a TLS ClientHello, read from the first bytes a client sends. Pure.

A censor reads the SNI off the wire and resets the connection before the
server says a word; the lab's TLS server does the same with these bytes,
peeked from the socket before the handshake (RFC 8446 4.1.2, RFC 6066 3).
"""

from __future__ import annotations

import struct

_HANDSHAKE = 0x16
_CLIENT_HELLO = 0x01
_SERVER_NAME = 0x0000
_HOST_NAME = 0x00


class NeedMore(Exception):
    """The bytes so far are the start of a ClientHello; wait for more."""


def client_hello_sni(data: bytes) -> str | None:
    """The host name the ClientHello in `data` asks for, lower case.

    None when there is none, or `data` is not a ClientHello that fits one
    TLS record (the server then just proceeds with its handshake).
    """
    if len(data) < 5:
        raise NeedMore
    if data[0] != _HANDSHAKE or data[1] != 0x03:
        return None
    (length,) = struct.unpack_from("!H", data, 3)
    if len(data) < 5 + length:
        raise NeedMore
    try:
        return _sni(data[5 : 5 + length])
    except (struct.error, IndexError, UnicodeDecodeError):
        return None


def _sni(hello: bytes) -> str | None:
    if hello[0] != _CLIENT_HELLO:
        return None
    end = 4 + int.from_bytes(hello[1:4], "big")
    if end > len(hello):
        return None  # a ClientHello split over records: rare, and not worth reassembling here
    offset = 4 + 2 + 32  # type+length, legacy_version, random
    offset += 1 + hello[offset]  # legacy_session_id
    offset += 2 + struct.unpack_from("!H", hello, offset)[0]  # cipher_suites
    offset += 1 + hello[offset]  # legacy_compression_methods
    if offset >= end:
        return None  # no extensions
    extensions_end = offset + 2 + struct.unpack_from("!H", hello, offset)[0]
    offset += 2
    while offset + 4 <= min(extensions_end, end):
        kind, size = struct.unpack_from("!HH", hello, offset)
        offset += 4
        if kind == _SERVER_NAME:
            return _host_name(hello[offset : offset + size])
        offset += size
    return None


def _host_name(extension: bytes) -> str | None:
    offset, end = 2, 2 + struct.unpack_from("!H", extension, 0)[0]
    while offset + 3 <= min(end, len(extension)):
        name_type, size = struct.unpack_from("!BH", extension, offset)
        offset += 3
        if name_type == _HOST_NAME:
            return extension[offset : offset + size].decode("ascii").lower().rstrip(".")
        offset += size
    return None
