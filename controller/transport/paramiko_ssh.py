"""The default transport: paramiko 5 over our own TCP socket, one per node.

- Our own socket, so TCP_NODELAY is set: left to Nagle, paramiko's small
  back-to-back writes stall on delayed ACKs and a 50-node push takes about
  4.7 s instead of 1.9 s (FIELD-NOTES, "OpenWrt and its SSH server").
- The host key is checked against KnownHosts right after key exchange and
  *before* authentication: a router that fails the check never sees a login.
- One connection carries every run/put (diff, backup, upload, apply, confirm):
  key exchange and auth dominate a push.
- paramiko 5 refuses ssh-rsa (SHA-1) outright. When a router offers nothing
  else (OpenWrt 19.07), the failure names the per-node opt-in
  `ssh.legacy_rsa: true`, which selects the OpenSSH transport instead.
"""

from __future__ import annotations

import functools
import logging
import select
import socket
import threading
import time
from typing import Any

import paramiko
from paramiko.ssh_exception import (
    AuthenticationException,
    BadAuthenticationType,
    IncompatiblePeer,
    SSHException,
)

from controller.transport.base import CommandResult, PublicKey, SshTarget, TransportBase
from controller.transport.errors import (
    AuthFailed,
    LegacyAlgorithmRequired,
    SessionFailed,
    Timeout,
    TransportError,
    Unreachable,
)
from controller.transport.hostkeys import KnownHosts
from controller.transport.kexinit import offered_host_key_algorithms
from controller.transport.keyfile import load_private_key

_CHUNK = 32768
#: How long one blocked `send` waits for the remote window before draining output.
_SEND_SLICE = 0.1
#: A known key of this type means these host key algorithms (RSA signs with SHA-2).
_ALGORITHMS_OF = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}


class ParamikoTransport(TransportBase):
    """SSH to one node with paramiko, one connection for every run and put.

    `run` (re)opens the connection when needed, so a router that rebooted is
    reconnected, with its host key checked again. `tcp_nodelay=False` exists
    for the benchmark only.
    """

    def __init__(
        self,
        target: SshTarget,
        known_hosts: KnownHosts,
        *,
        accept_new: bool = False,
        connect_timeout: float = 10,
        keepalive: int = 15,
        tcp_nodelay: bool = True,
    ) -> None:
        self.target = target
        self.known_hosts = known_hosts
        self.accept_new = accept_new
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self.tcp_nodelay = tcp_nodelay
        self._ssh: Any = None  # paramiko.Transport once open
        self._lock = threading.Lock()

    # -- connection -------------------------------------------------------

    def open(self) -> None:
        with self._lock:
            if self._ssh is not None and self._ssh.is_active():
                return
            self._ssh = None
            key = load_private_key(self.target)  # a local mistake needs no router
            sock = self._connect_socket()
            try:
                ssh = paramiko.Transport(sock)
            except BaseException:
                sock.close()
                raise
            try:
                self._handshake(ssh)
                self._verify_host_key(ssh)
                self._authenticate(ssh, key)
                ssh.set_keepalive(self.keepalive)
            except BaseException:
                ssh.close()
                raise
            self._ssh = ssh

    def close(self) -> None:
        with self._lock:
            if self._ssh is not None:
                self._ssh.close()
                self._ssh = None

    def _connect_socket(self) -> socket.socket:
        target = self.target
        try:
            sock = socket.create_connection((target.host, target.port), self.connect_timeout)
        except socket.gaierror as exc:
            raise Unreachable(target.node, target.address, f"cannot resolve: {exc}") from exc
        except TimeoutError as exc:
            reason = f"no answer within {self.connect_timeout:g} s"
            raise Unreachable(target.node, target.address, reason) from exc
        except OSError as exc:
            raise Unreachable(target.node, target.address, _reason(exc)) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(self.tcp_nodelay))
        return sock

    def _handshake(self, ssh: Any) -> None:
        ssh.banner_timeout = ssh.handshake_timeout = self.connect_timeout
        ssh.auth_timeout = self.connect_timeout
        ssh.set_log_channel(_quiet_logger())
        self._prefer_known_key_types(ssh)
        try:
            ssh.start_client(timeout=self.connect_timeout)
        except IncompatiblePeer as exc:
            raise self._incompatible(exc, ssh.get_security_options().key_types) from exc
        except (SSHException, EOFError, OSError) as exc:
            raise self._session_error(exc) from exc
        if not ssh.is_active() or not ssh.initial_kex_done:
            raise Timeout(self.target.node, "the SSH handshake", self.connect_timeout)

    def _prefer_known_key_types(self, ssh: Any) -> None:
        """Ask first for the key type we trust, as OpenSSH does, so a router
        that gained a new key type is not mistaken for a changed key."""
        pin = self.target.pinned
        known = [pin] if pin else [e.key for e in self.known_hosts.lookup(*self._hostport)]
        wanted = {a for k in known for a in _ALGORITHMS_OF.get(k.key_type, (k.key_type,))}
        options = ssh.get_security_options()
        current = tuple(options.key_types)
        options.key_types = tuple(a for a in current if a in wanted) + tuple(
            a for a in current if a not in wanted
        )

    def _verify_host_key(self, ssh: Any) -> None:
        server_key = ssh.get_remote_server_key()
        presented = PublicKey.from_base64(server_key.get_name(), server_key.get_base64())
        self.known_hosts.verify(self.target, presented, accept_new=self.accept_new)

    def _authenticate(self, ssh: Any, key: Any) -> None:
        target = self.target
        try:
            ssh.auth_publickey(target.user, key)
        except BadAuthenticationType as exc:
            hint = f" (the router allows only: {', '.join(exc.allowed_types)})"
            raise AuthFailed(target.node, target.user, target.key_file, hint) from exc
        except AuthenticationException as exc:
            hint = ""
            if key.get_name() == "ssh-rsa":
                hint = (
                    "; an OpenWrt 19.07 router accepts only ssh-rsa (SHA-1) signatures: "
                    "if it is one, set `ssh.legacy_rsa: true` for the node"
                )
            raise AuthFailed(target.node, target.user, target.key_file, hint) from exc
        except (SSHException, EOFError, OSError) as exc:
            raise self._session_error(exc) from exc
        if not ssh.is_authenticated():
            raise AuthFailed(target.node, target.user, target.key_file)

    def _incompatible(self, exc: Exception, supported: tuple[str, ...]) -> TransportError:
        if "host key" not in str(exc):
            return SessionFailed(self.target.node, str(exc))
        try:
            offered = offered_host_key_algorithms(*self._hostport, self.connect_timeout)
        except (OSError, ValueError):
            offered = ()  # cannot ask again: "no acceptable host key" is the 19.07 case
        if offered and ("ssh-rsa" not in offered or set(supported).intersection(offered)):
            what = f"no host key algorithm in common (the router offers {', '.join(offered)})"
            return SessionFailed(self.target.node, what)
        return LegacyAlgorithmRequired(self.target.node, offered)

    def _session_error(self, exc: BaseException) -> TransportError:
        if isinstance(exc, ConnectionError | EOFError):
            reason = f"connection lost: {_reason(exc) if isinstance(exc, OSError) else 'EOF'}"
            return Unreachable(self.target.node, self.target.address, reason)
        if isinstance(exc, TimeoutError):
            return Timeout(self.target.node, "the SSH session", self.connect_timeout)
        return SessionFailed(self.target.node, str(exc) or type(exc).__name__)

    @property
    def _hostport(self) -> tuple[str, int]:
        return self.target.host, self.target.port

    # -- commands ---------------------------------------------------------

    def run(
        self, command: str, *, stdin: bytes | None = None, timeout: float = 30
    ) -> CommandResult:
        self.open()
        deadline = time.monotonic() + timeout
        try:
            channel = self._ssh.open_session(timeout=timeout)
        except (SSHException, EOFError, OSError) as exc:
            self.close()
            raise self._session_error(exc) from exc
        try:
            return self._exchange(channel, command, stdin or b"", deadline, timeout)
        except (SSHException, EOFError, ConnectionError) as exc:
            raise self._session_error(exc) from exc
        finally:
            channel.close()

    def _exchange(
        self, channel: Any, command: str, data: bytes, deadline: float, timeout: float
    ) -> CommandResult:
        out, err = bytearray(), bytearray()
        channel.exec_command(command)
        channel.fileno()  # makes the channel selectable (stdout, stderr and EOF)
        view = memoryview(data)
        while view:
            _drain(channel, out, err)
            channel.settimeout(min(_SEND_SLICE, self._left(deadline, command, timeout)))
            try:
                sent = channel.send(view[:_CHUNK])
            except TimeoutError:
                continue  # remote window closed: drain output, then try again
            except OSError:
                break  # the command exited without reading all its stdin
            view = view[sent:]
        channel.shutdown_write()
        while True:
            _drain(channel, out, err)
            if channel.eof_received or channel.closed:
                break
            select.select([channel], [], [], self._left(deadline, command, timeout))
        _drain(channel, out, err)
        if not channel.status_event.wait(self._left(deadline, command, timeout)):
            raise Timeout(self.target.node, f"`{command}`", timeout)
        return CommandResult(channel.recv_exit_status(), bytes(out), bytes(err))

    def _left(self, deadline: float, command: str, timeout: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout(self.target.node, f"`{command}`", timeout)
        return left


def _drain(channel: Any, out: bytearray, err: bytearray) -> None:
    while channel.recv_ready():
        out += channel.recv(_CHUNK)
    while channel.recv_stderr_ready():
        err += channel.recv_stderr(_CHUNK)


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


@functools.cache
def _quiet_logger() -> str:
    """paramiko logs its thread's failures with tracebacks; we raise them as
    TransportError instead, so its records go to a logger that prints nothing
    unless the application configured logging."""
    name = "controller.transport.paramiko"
    logging.getLogger(name).addHandler(logging.NullHandler())
    return name
