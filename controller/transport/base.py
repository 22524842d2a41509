"""The transport contract: open / run / put / close, one connection per node.

Commands are fixed strings chosen by the code (`uci import network`,
`reload_config`, `cat > /etc/config/network`). **No inventory value may ever
be interpolated into a command**: a value travels as the stdin bytes of a
fixed command (`cat > PATH` writes them, `uci import PKG` parses them). The
only variable part of a command line is a `put` path, which is also fixed by
the code and is still quoted with `shlex.quote` as a second line of defence.

Files travel over an exec channel's stdin (`cat > PATH`), never SFTP or scp:
stock OpenWrt has no sftp-server, and OpenSSH 9's `scp` needs SFTP unless
given `-O` (FIELD-NOTES, "OpenWrt and its SSH server").
"""

from __future__ import annotations

import base64
import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, TypeVar, runtime_checkable

from controller.transport.errors import RemoteCommandFailed

#: Key types a router may present or we may pin (dropbear's and OpenSSH's).
KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    }
)


@dataclass(frozen=True)
class PublicKey:
    """An SSH public key as `TYPE BASE64`, compared by its decoded blob."""

    key_type: str
    blob: bytes

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """Read `TYPE BASE64 [comment]` (also a whole `ssh-keyscan` line)."""
        fields = text.split()
        for i, field in enumerate(fields[:-1]):
            if field in KEY_TYPES:
                return cls.from_base64(field, fields[i + 1])
        raise ValueError(f"not an SSH public key 'TYPE BASE64': {text[:40]!r}")

    @classmethod
    def from_base64(cls, key_type: str, text: str) -> PublicKey:
        try:
            blob = base64.b64decode(text.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError) as exc:
            raise ValueError(f"{key_type} key is not valid base64") from exc
        return cls(key_type, blob)

    @property
    def base64(self) -> str:
        return base64.b64encode(self.blob).decode("ascii")

    @property
    def fingerprint(self) -> str:
        """`SHA256:...` exactly as `ssh-keygen -lf` and OpenSSH print it."""
        digest = base64.b64encode(hashlib.sha256(self.blob).digest()).decode("ascii")
        return "SHA256:" + digest.rstrip("=")

    def __str__(self) -> str:
        return f"{self.key_type} {self.base64}"


@dataclass(frozen=True)
class SshTarget:
    """Where and how to log in to one node (resolved from the inventory)."""

    node: str
    host: str
    port: int
    user: str
    key_file: Path
    legacy_rsa: bool = False
    pinned_host_key: str | None = None  # "TYPE BASE64", overrides known_hosts

    def __post_init__(self) -> None:
        # These reach an argv (OpenSSH) or a socket: refuse what could be read as
        # an option or change the login. The inventory model validates first.
        for what, value in (("host", self.host), ("user", self.user)):
            if not value or value.startswith("-") or any(c in value for c in " @\t\n\r\0"):
                raise ValueError(f"node {self.node}: ssh {what} {value!r} is not usable")
        if not 0 < self.port < 65536:
            raise ValueError(f"node {self.node}: ssh port {self.port} is out of range")
        if self.pinned_host_key is not None:
            PublicKey.parse(self.pinned_host_key)

    @property
    def address(self) -> str:
        """The node's address as known_hosts and OpenSSH write it."""
        return host_label(self.host, self.port)

    @property
    def pinned(self) -> PublicKey | None:
        return None if self.pinned_host_key is None else PublicKey.parse(self.pinned_host_key)


def host_label(host: str, port: int) -> str:
    """`host` for port 22, else `[host]:port` (OpenSSH's known_hosts convention)."""
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class CommandResult:
    """What a command did on the router. A non-zero exit is a result, not an error.

    `exit_status` is -1 when the command was killed by a signal or the server
    closed the channel without reporting one.
    """

    exit_status: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@runtime_checkable
class Transport(Protocol):
    """One SSH connection to one node, reused for every command and file.

    `run` never raises for a non-zero exit (use `run_checked` for that); it
    raises a `TransportError` only when the command could not be run or did
    not finish in time. Use from one thread at a time.
    """

    target: SshTarget

    def open(self) -> None:
        """Connect, verify the host key, authenticate. Idempotent."""

    def run(
        self, command: str, *, stdin: bytes | None = None, timeout: float = 30
    ) -> CommandResult:
        """Run a fixed command; `stdin` bytes are sent, then end-of-file."""
        ...

    def run_checked(
        self, command: str, *, stdin: bytes | None = None, timeout: float = 30
    ) -> CommandResult:
        """Like `run`, but a non-zero exit raises RemoteCommandFailed."""
        ...

    def put(self, path: str, data: bytes, *, timeout: float = 30) -> None:
        """Write `data` to `path` on the router with `cat > PATH` (no SFTP)."""

    def close(self) -> None:
        """Close the connection. Idempotent."""

    def __enter__(self) -> Transport: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def check(target: SshTarget, command: str, result: CommandResult) -> CommandResult:
    """Return `result` if the command succeeded, else raise RemoteCommandFailed."""
    if result.exit_status != 0:
        raise RemoteCommandFailed(target.node, command, result.exit_status, result.stderr)
    return result


def put_command(path: str) -> str:
    """The fixed command that writes stdin to `path` (quoted; paths come from code)."""
    return f"cat > {shlex.quote(path)}"


_Self = TypeVar("_Self", bound="TransportBase")


class TransportBase:
    """What both SSH implementations share: put, run_checked, context manager."""

    target: SshTarget

    def open(self) -> None:
        raise NotImplementedError

    def run(
        self, command: str, *, stdin: bytes | None = None, timeout: float = 30
    ) -> CommandResult:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def run_checked(
        self, command: str, *, stdin: bytes | None = None, timeout: float = 30
    ) -> CommandResult:
        return check(self.target, command, self.run(command, stdin=stdin, timeout=timeout))

    def put(self, path: str, data: bytes, *, timeout: float = 30) -> None:
        self.run_checked(put_command(path), stdin=data, timeout=timeout)

    def __enter__(self: _Self) -> _Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
