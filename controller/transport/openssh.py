"""The legacy transport: Debian's OpenSSH client, for nodes that opt in.

Why it exists. OpenWrt 19.07 (still common on community networks) ships
dropbear 2019.78, which offers only `ssh-rsa` (SHA-1) host keys and verifies
only `ssh-rsa` user-key signatures. paramiko 5 refuses that outright
(FIELD-NOTES, "OpenWrt and its SSH server"). The choices were:

- pin an old paramiko (< 5): every node, not just the old ones, would then run
  on an unmaintained SSH stack, and the pin blocks security fixes;
- monkeypatch paramiko 5 back to SHA-1: private internals that change between
  releases, and the patch would weaken every connection in the process;
- drive the OpenSSH client (this module): maintained, still implements
  ssh-rsa behind explicit options, and those options apply to one node's
  command line only.

So SHA-1 is an explicit, per-node opt-in (`ssh.legacy_rsa: true`), never a
silent fallback: without it the paramiko transport stops with
LegacyAlgorithmRequired and says how to opt in.

How. argv lists only (no shell on our side): the login and host go as the
values of `-l` and `-p` and after `--`, so even a value starting with `-`
is never read as an option. Every `-o` value is written as ssh_config reads
it (`option_value`): double-quoted when it holds spaces or quotes, `%` doubled
where ssh expands %-tokens, and a `${` (which ssh would expand from the
environment, with no way to escape it) refused. `-F /dev/null` so neither the
user's nor the system's ssh_config can change anything; one multiplexed
connection per node (ControlMaster, socket in a private 0700 temporary
directory, ControlPersist so a crashed controller leaves no master behind for
long); strict host key checking against the same known_hosts file the
paramiko transport uses (or the inventory's pinned key alone); BatchMode so
nothing ever prompts. The host key algorithms are RSA only: the opt-in means
"this node speaks ssh-rsa", and a router without an RSA key is told to drop
the opt-in. `PubkeyAcceptedAlgorithms=^ssh-rsa` puts ssh-rsa at the head of
the defaults rather than the tail (`+ssh-rsa`): a server that advertises
SHA-2 signature algorithms but verifies only ssh-rsa would otherwise be
offered an rsa-sha2-512 signature it rejects.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from controller.transport.base import CommandResult, SshTarget, TransportBase
from controller.transport.errors import (
    AuthFailed,
    HostKeyChanged,
    HostKeyUnknown,
    KnownKeyRecord,
    SessionFailed,
    Timeout,
    TransportError,
    Unreachable,
)
from controller.transport.hostkeys import KnownHosts
from controller.transport.keyfile import check_private_key

#: OpenSSH exits 255 for its own failures (a remote `exit 255` looks the same).
SSH_FAILED = 255
_OPENSSH_TYPES = {
    "RSA": "ssh-rsa",
    "ED25519": "ssh-ed25519",
    "ECDSA": "ecdsa-sha2-nistp256",
}
_UNREACHABLE = (
    "Connection refused",
    "No route to host",
    "Network is unreachable",
    "Connection timed out",
    "Could not resolve hostname",
    "Connection reset",
    "Connection closed by",
    "kex_exchange_identification",
)


#: ssh_config keywords whose values ssh expands %-tokens in (ssh_config(5), TOKENS),
#: and those it expands ${VARIABLE}s in (ENVIRONMENT VARIABLES).
EXPANDS_TOKENS = frozenset(
    {
        "CertificateFile",
        "ControlPath",
        "IdentityAgent",
        "IdentityFile",
        "KnownHostsCommand",
        "LocalForward",
        "RemoteCommand",
        "RemoteForward",
        "UserKnownHostsFile",
    }
)
EXPANDS_VARIABLES = frozenset(
    {
        "CertificateFile",
        "ControlPath",
        "IdentityAgent",
        "IdentityFile",
        "KnownHostsCommand",
        "UserKnownHostsFile",
    }
)
_NEEDS_QUOTES = re.compile(r"""[\s"'\\#]""")


def option_value(name: str, value: str) -> str:
    """`NAME=VALUE` for `ssh -o`, written so that ssh reads back exactly `value`."""
    if any(c in value for c in "\n\r\0"):
        raise ValueError(f"{name} {value!r}: ssh cannot take a line break or NUL in it")
    if name in EXPANDS_VARIABLES and "${" in value:
        raise ValueError(
            f"{name} {value!r}: ssh would expand the `${{...}}` in it from the environment "
            "(it cannot be escaped) — rename the directory or file"
        )
    if name in EXPANDS_TOKENS:
        value = value.replace("%", "%%")
    if not value or _NEEDS_QUOTES.search(value):
        value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name}={value}"


class OpenSshTransport(TransportBase):
    """SSH to one legacy (ssh-rsa only) node through the `ssh` program."""

    def __init__(
        self,
        target: SshTarget,
        known_hosts: KnownHosts,
        *,
        accept_new: bool = False,
        connect_timeout: float = 10,
        keepalive: int = 15,
        control_persist: int = 120,
    ) -> None:
        self.target = target
        self.known_hosts = known_hosts
        self.accept_new = accept_new
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self.control_persist = control_persist
        self._dir: Path | None = None
        self._ssh = ""

    # -- connection -------------------------------------------------------

    def open(self) -> None:
        if self._dir is not None:
            return
        ssh = shutil.which("ssh")
        if ssh is None:
            raise SessionFailed(
                self.target.node,
                "the OpenSSH client is not installed (Debian package openssh-client), "
                "and ssh.legacy_rsa needs it",
            )
        self._ssh = ssh
        check_private_key(self.target)
        self._dir = Path(tempfile.mkdtemp(prefix="meshkeeper-ssh-"))  # mode 0700
        try:
            self._write_pin()
            self._start_master()
        except BaseException:
            self._remove_dir()
            raise

    def _start_master(self) -> None:
        """-f -N: authenticate, then leave the master in the background."""
        argv = self._argv({"ControlMaster": "yes"}, ["-f", "-N"])
        started = self._call(argv, None, self.connect_timeout * 2)
        if started.exit_status != 0:
            what = started.stderr.decode("utf-8", "replace").strip() or "ssh failed"
            raise SessionFailed(self.target.node, what[-300:])

    def close(self) -> None:
        if self._dir is None:
            return
        if self._control_path.exists():
            control = option_value("ControlPath", str(self._control_path))
            stop = ["-F", "/dev/null", "-o", control, "-O", "exit"]
            subprocess.run(  # noqa: S603 - argv list, fixed options
                [self._ssh, *stop, "--", self.target.host],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=_environment(),
                timeout=self.connect_timeout,
                check=False,
            )
        self._remove_dir()

    def _remove_dir(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _write_pin(self) -> None:
        """A pinned key overrides the file: ssh then reads only the pin."""
        pin = self.target.pinned
        if pin is None:
            self.known_hosts.ensure_exists()  # ssh appends; the file keeps 0600
            return
        self._pin_file.write_text(f"{self.target.address} {pin}\n", encoding="ascii")

    @property
    def _workdir(self) -> Path:
        if self._dir is None:
            raise RuntimeError("OpenSshTransport used before open()")
        return self._dir

    @property
    def _pin_file(self) -> Path:
        return self._workdir / "pinned_known_hosts"

    @property
    def _control_path(self) -> Path:
        return self._workdir / "cm"

    def _argv(
        self, overrides: dict[str, str], flags: list[str], command: str | None = None
    ) -> list[str]:
        """The whole ssh command line. ssh keeps the first value of an option,
        so the overrides are merged into one dict, not appended."""
        target = self.target
        argv = [self._ssh, "-F", "/dev/null", "-T"]
        for name, value in {**self._options(), **overrides}.items():
            try:
                argv += ["-o", option_value(name, value)]
            except ValueError as exc:
                raise SessionFailed(target.node, str(exc)) from None
        argv += [*flags, "-p", str(target.port), "-l", target.user, "--", target.host]
        # The command is one argument: ssh sends it as the remote command string.
        return argv if command is None else [*argv, command]

    def _options(self) -> dict[str, str]:
        target = self.target
        pinned = target.pinned is not None
        known = self._pin_file if pinned else self.known_hosts.path
        strict = "accept-new" if self.accept_new and not pinned else "yes"
        return {
            "BatchMode": "yes",
            "IdentityFile": str(target.key_file.absolute()),  # absolute: no `~` expansion
            "IdentitiesOnly": "yes",
            "IdentityAgent": "none",
            "PasswordAuthentication": "no",
            "KbdInteractiveAuthentication": "no",
            "PreferredAuthentications": "publickey",
            "HostKeyAlgorithms": "ssh-rsa,rsa-sha2-512,rsa-sha2-256",
            "PubkeyAcceptedAlgorithms": "^ssh-rsa",
            "UserKnownHostsFile": str(known.absolute()),
            "GlobalKnownHostsFile": "/dev/null",
            "StrictHostKeyChecking": strict,
            "UpdateHostKeys": "no",
            "HashKnownHosts": "no",
            "CheckHostIP": "no",
            "ConnectTimeout": f"{max(1, round(self.connect_timeout))}",
            "ServerAliveInterval": str(self.keepalive),
            "ServerAliveCountMax": "3",
            "ControlMaster": "auto",
            "ControlPath": str(self._control_path.absolute()),
            "ControlPersist": str(self.control_persist),
            "ClearAllForwardings": "yes",
            "LogLevel": "ERROR",
        }

    # -- commands ---------------------------------------------------------

    def run(
        self, command: str, *, stdin: bytes | None = None, timeout: float = 30
    ) -> CommandResult:
        self.open()
        return self._call(self._argv({}, [], command), command, timeout, stdin or b"")

    def _call(
        self, argv: list[str], command: str | None, timeout: float, stdin: bytes = b""
    ) -> CommandResult:
        try:
            done = subprocess.run(  # noqa: S603 - argv list, fixed options
                argv,
                input=stdin,
                capture_output=True,
                env=_environment(),
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            what = "the SSH connection" if command is None else f"`{command}`"
            raise Timeout(self.target.node, what, timeout) from exc
        result = CommandResult(done.returncode, done.stdout, done.stderr)
        if result.exit_status == SSH_FAILED:
            error = self._classify(result.stderr.decode("utf-8", "replace"))
            if error is not None:
                raise error
        return result

    def _classify(self, stderr: str) -> TransportError | None:
        """Turn ssh's own failure (exit 255 + its words) into our error kinds."""
        target = self.target
        if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
            return self._changed(stderr)
        if "Host key verification failed" in stderr:
            return self._unknown()
        if "Permission denied" in stderr:
            return AuthFailed(target.node, target.user, target.key_file)
        if "no matching host key type found" in stderr:
            return SessionFailed(
                target.node,
                "the router offers no RSA host key, so it is not an OpenWrt 19.07 node — "
                f"remove `ssh.legacy_rsa: true` for node {target.node} in the inventory",
            )
        for marker in _UNREACHABLE:
            line = next((ln for ln in stderr.splitlines() if marker in ln), None)
            if line is not None:
                return Unreachable(target.node, target.address, line.strip().removeprefix("ssh: "))
        return None  # a remote `exit 255`: a result like any other exit status

    def _changed(self, stderr: str) -> HostKeyChanged:
        target = self.target
        new = re.search(
            r"fingerprint for the (\w+) key sent by the remote host is\s+(\S+?)\.", stderr
        )
        key_type = _OPENSSH_TYPES.get(new.group(1), new.group(1)) if new else "ssh-rsa"
        fingerprint = new.group(2) if new else "(not shown by ssh)"
        known: list[KnownKeyRecord] = []
        pin = target.pinned
        if pin is not None:
            source = f"the inventory's ssh.host_key of node {target.node}"
            known.append(KnownKeyRecord(pin.key_type, pin.fingerprint, source))
        else:
            for match in re.finditer(r"Offending \w+ key in (.+):(\d+)", stderr):
                record = self.known_hosts.record_at(int(match.group(2)))
                if record is not None:
                    known.append(record)
            if not known:  # ssh's wording changed: name every entry for the address
                known = [
                    KnownKeyRecord(
                        e.key.key_type, e.key.fingerprint, str(self.known_hosts.path), e.line
                    )
                    for e in self.known_hosts.lookup(target.host, target.port)
                ]
        return HostKeyChanged(
            target.node, target.address, key_type, fingerprint, known, self.known_hosts.path
        )

    def _unknown(self) -> HostKeyUnknown:
        """ssh does not print the key it refused; ask it once more, verbosely."""
        once = {"ControlMaster": "no", "ControlPath": "none", "StrictHostKeyChecking": "yes"}
        probe = self._argv({**once, "LogLevel": "DEBUG1"}, [], "true")
        try:
            done = subprocess.run(  # noqa: S603 - argv list, fixed options
                probe,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=_environment(),
                timeout=self.connect_timeout * 2,
                check=False,
            )
            text = done.stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            text = ""
        shown = re.search(r"Server host key: (\S+) (SHA256:\S+)", text)
        key_type, fingerprint = shown.groups() if shown else ("ssh-rsa", "(unknown)")
        return HostKeyUnknown(
            self.target.node, self.target.address, key_type, fingerprint, self.known_hosts.path
        )


def _environment() -> dict[str, str]:
    """No agent, no locale surprises in the messages we parse."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    return {**keep, "LC_ALL": "C"}
