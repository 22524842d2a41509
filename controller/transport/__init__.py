"""Pushing to routers over SSH: one connection per node, files as stdin bytes.

    connect(target, known_hosts)  → a Transport (base.py) for the node:
        ParamikoTransport   every node (paramiko 5, TCP_NODELAY, one connection)
        OpenSshTransport    nodes with `ssh.legacy_rsa: true` (OpenWrt 19.07's
                            ssh-rsa-only dropbear), through Debian's OpenSSH client

Host keys are checked strictly against KnownHosts (hostkeys.py) before any
login; errors are the TransportError kinds drawn in errors.py.
"""

from __future__ import annotations

from controller.transport.base import CommandResult, PublicKey, SshTarget, Transport
from controller.transport.errors import (
    AuthFailed,
    HostKeyChanged,
    HostKeyUnknown,
    KeyFileUnusable,
    LegacyAlgorithmRequired,
    RemoteCommandFailed,
    SessionFailed,
    Timeout,
    TransportError,
    Unreachable,
)
from controller.transport.hostkeys import KnownHosts
from controller.transport.openssh import OpenSshTransport
from controller.transport.paramiko_ssh import ParamikoTransport

__all__ = [
    "AuthFailed",
    "CommandResult",
    "HostKeyChanged",
    "HostKeyUnknown",
    "KeyFileUnusable",
    "KnownHosts",
    "LegacyAlgorithmRequired",
    "OpenSshTransport",
    "ParamikoTransport",
    "PublicKey",
    "RemoteCommandFailed",
    "SessionFailed",
    "SshTarget",
    "Timeout",
    "Transport",
    "TransportError",
    "Unreachable",
    "connect",
]


def connect(target: SshTarget, known_hosts: KnownHosts, *, accept_new: bool = False) -> Transport:
    """The transport for one node, not yet opened (use it as a context manager).

    The OpenSSH transport only when the inventory opted the node in with
    `ssh.legacy_rsa: true`: SHA-1 is never a silent fallback.
    """
    if target.legacy_rsa:
        return OpenSshTransport(target, known_hosts, accept_new=accept_new)
    return ParamikoTransport(target, known_hosts, accept_new=accept_new)
