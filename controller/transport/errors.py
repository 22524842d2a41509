"""Errors the transport layer reports, one root under the project's own.

    MeshkeeperError                     controller/errors.py: the CLI catches this
    └── TransportError                  anything that kept a command from a router
          ├── Unreachable               no TCP connection (refused, no route, no answer)
          ├── AuthFailed                the router refused our key
          │     └── KeyFileUnusable     our own key file is missing, unreadable or encrypted
          ├── HostKeyUnknown            first contact: no known host key, strict policy
          ├── HostKeyChanged            the router presents another host key than the known one
          ├── LegacyAlgorithmRequired   the router offers only ssh-rsa (OpenWrt 19.07)
          ├── Timeout                   the handshake or a command did not finish in time
          ├── RemoteCommandFailed       a command ran and exited non-zero (status, stderr tail)
          └── SessionFailed             any other SSH protocol failure (message from the library)

Every message names the node and says what to do next. None carries a secret:
key *paths* appear, key material never does, and commands are fixed strings
chosen by the code (values travel as stdin bytes, see base.py). What the
router or the SSH library said (stderr, reasons) is escaped with `printable`:
a router cannot write to the operator's terminal through an error message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.errors import MeshkeeperError

#: How much of a failing command's stderr a message keeps (the end says why).
STDERR_TAIL_BYTES = 400


def printable(text: str) -> str:
    """`text` (a router's words) with every character a terminal would act on or hide
    (C0 and C1 controls, ESC, DEL, bidi overrides, line separators) escaped as
    Python writes it (`\\x1b`, `\\u202e`): one visible line, whatever was sent."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class TransportError(MeshkeeperError):
    """Root of every transport failure; `node` names the router it concerns."""

    def __init__(self, node: str, message: str) -> None:
        self.node = node
        super().__init__(f"node {node}: {message}")


class Unreachable(TransportError):
    """No TCP connection to the router's SSH port."""

    def __init__(self, node: str, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason = printable(reason)
        super().__init__(
            node,
            f"cannot reach SSH at {address} ({reason}) — check that the router is "
            "powered and reachable over the mesh and that dropbear listens on that port; the "
            "address is the node's `management` (default: its planned mesh address, see "
            "`meshkeeper inventory show NODE`) and its `ssh.port`; a router not yet on that "
            "address (a factory router) is reached with `meshkeeper adopt NODE --via ADDRESS`",
        )


class AuthFailed(TransportError):
    """The router did not accept our key for the user."""

    def __init__(self, node: str, user: str, key_file: Path, hint: str = "") -> None:
        self.user = user
        self.key_file = key_file
        super().__init__(
            node,
            f"the router refused key {key_file} for user {user} — check that its public "
            "half is in /etc/dropbear/authorized_keys on the router (mode 0600) and that "
            f"ssh.user and ssh.key_file are right in the inventory{hint}",
        )


class KeyFileUnusable(AuthFailed):
    """Our private key file cannot be used (checked before any network traffic)."""

    def __init__(self, node: str, user: str, key_file: Path, problem: str) -> None:
        self.problem = problem
        TransportError.__init__(
            self,
            node,
            f"cannot use SSH key file {key_file}: {problem} — point ssh.key_file at an "
            "unencrypted Ed25519, ECDSA or RSA private key readable by this user "
            "(create one with `ssh-keygen -t ed25519 -N '' -f FILE`)",
        )
        self.user = user
        self.key_file = key_file


@dataclass(frozen=True)
class KnownKeyRecord:
    """A host key we already trust, and where it is written down."""

    key_type: str
    fingerprint: str
    source: str  # a known_hosts file, or the inventory pin
    line: int = 0  # 1-based line in `source`; 0 for the inventory pin

    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source


def console_check(key_type: str) -> str:
    """The command that prints the router's own host key on its console."""
    name = {
        "ssh-ed25519": "ed25519",
        "ssh-rsa": "rsa",
        "ecdsa-sha2-nistp256": "ecdsa",
        "ecdsa-sha2-nistp384": "ecdsa",
        "ecdsa-sha2-nistp521": "ecdsa",
    }.get(key_type, "ed25519")
    return (
        f"`dropbearkey -y -f /etc/dropbear/dropbear_{name}_host_key` (an older dropbearkey "
        "prints MD5: feed the key line it prints to `ssh-keygen -lf -` instead)"
    )


class HostKeyUnknown(TransportError):
    """Strict policy and no host key known for this address: first contact."""

    def __init__(
        self, node: str, address: str, key_type: str, fingerprint: str, known_hosts: Path
    ) -> None:
        self.address = address
        self.key_type = key_type
        self.fingerprint = fingerprint
        self.known_hosts = known_hosts
        super().__init__(
            node,
            f"no host key is known for {address} in {known_hosts} (the router presents "
            f"{key_type} {fingerprint}) — first contact needs --accept-new-host-keys; "
            f"verify the fingerprint {fingerprint} on the router's console with "
            f"{console_check(key_type)} first, or pin it as ssh.host_key in the inventory",
        )


class HostKeyChanged(TransportError):
    """The router presents a host key other than the one we trust for it."""

    def __init__(
        self,
        node: str,
        address: str,
        key_type: str,
        fingerprint: str,
        known: Sequence[KnownKeyRecord],
        known_hosts: Path,
    ) -> None:
        self.address = address
        self.key_type = key_type
        self.fingerprint = fingerprint
        self.known = tuple(known)
        old = "; ".join(f"{k.key_type} {k.fingerprint} ({k.where()})" for k in self.known)
        pinned = any(k.line == 0 for k in self.known)
        repin = (
            f"update ssh.host_key of node {node} in the inventory to the new key"
            if pinned
            else f"remove the old entry (`ssh-keygen -R '{address}' -f {known_hosts}`) and "
            "connect once with --accept-new-host-keys"
        )
        super().__init__(
            node,
            f"the host key of {address} CHANGED: trusted {old}; the router now presents "
            f"{key_type} {fingerprint} — this may be an attack or a reflashed router, so "
            "nothing was sent. Verify the new fingerprint on the router's console with "
            f"{console_check(key_type)}; only if it matches, {repin}",
        )


class LegacyAlgorithmRequired(TransportError):
    """The router offers only ssh-rsa (SHA-1), which paramiko 5 refuses."""

    def __init__(self, node: str, offered: Sequence[str]) -> None:
        self.offered = tuple(offered)
        shown = ", ".join(self.offered) if self.offered else "ssh-rsa only"
        super().__init__(
            node,
            f"the router offers only legacy ssh-rsa (SHA-1) host keys ({shown}), as "
            "OpenWrt 19.07's dropbear 2019.78 does — verify the router is on OpenWrt 19.07 "
            f"and set `ssh.legacy_rsa: true` for node {node} in the inventory (meshkeeper "
            "then uses the OpenSSH client for it); better, upgrade it to OpenWrt 21.02+",
        )


class Timeout(TransportError):
    """The handshake or a command did not finish in time."""

    def __init__(self, node: str, what: str, seconds: float) -> None:
        self.what = what
        self.seconds = seconds
        super().__init__(
            node,
            f"{what} did not finish within {seconds:g} s — the link may be congested or "
            "the router overloaded; check `meshkeeper status` for the node, then retry "
            "(with a longer timeout if the command is legitimately slow)",
        )


class RemoteCommandFailed(TransportError):
    """A command ran on the router and exited non-zero."""

    def __init__(self, node: str, command: str, exit_status: int, stderr: bytes) -> None:
        self.command = command
        self.exit_status = exit_status
        self.stderr_tail = stderr[-STDERR_TAIL_BYTES:]
        tail = printable(self.stderr_tail.decode("utf-8", "replace").strip()) or "(no stderr)"
        status = "was killed (no exit status)" if exit_status < 0 else f"exited {exit_status}"
        super().__init__(
            node,
            f"`{command}` {status}: {tail} — check the router's free space (`df -h`) and "
            "log (`logread`), then retry",
        )


class SessionFailed(TransportError):
    """Any other SSH failure, with the library's own words."""

    def __init__(self, node: str, what: str) -> None:
        self.what = what = printable(what)
        super().__init__(
            node,
            f"SSH session failed: {what} — retry; if it persists, run "
            "`ssh -v` against the router to see where the handshake stops",
        )
