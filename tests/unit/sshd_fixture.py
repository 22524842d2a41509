"""Real SSH servers on 127.0.0.1 for the transport tests.

- `start_sshd`: Debian's OpenSSH server with a private config, host key and
  authorized_keys file in a temporary directory, and no `Subsystem` line, so
  there is no SFTP, as on stock OpenWrt. `legacy=True` configures it like
  OpenWrt 19.07's dropbear 2019.78: one RSA host key, `ssh-rsa` (SHA-1) as the
  only host key and user-key signature algorithm, dropbear's small cipher set.
- `start_dropbear`: Debian's dropbear (what OpenWrt runs). Debian's build reads
  authorized keys only from ~/.ssh, so it runs in a private mount namespace
  with a tmpfs over the home directory: the host's real ~/.ssh is never touched.

Every server is a child process stopped by `SshServer.stop()`; the fixtures
in test_transport.py call it whatever the test did.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
DROPBEAR = "/usr/sbin/dropbear"
LOOPBACK = "127.0.0.1"


@dataclass
class SshServer:
    """A running server: where it listens, its host key, how to stop it."""

    kind: str
    port: int
    host_key: str  # "TYPE BASE64" as the server presents it
    log: Path
    process: subprocess.Popen[bytes]
    extra: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for proc in (self.process, *self.extra):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def current_user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def keygen(path: Path, kind: str) -> str:
    """An unencrypted OpenSSH key pair; returns the public key 'TYPE BASE64'."""
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "meshkeeper-test", "-f", str(path)]
    if kind == "rsa":
        args[4:4] = ["-b", "2048"]  # enough for a test, and fast to generate
    subprocess.run(args, check=True, capture_output=True)
    return public_key(path)


def public_key(private: Path) -> str:
    text = Path(f"{private}.pub").read_text(encoding="ascii")
    return " ".join(text.split()[:2])


def _sshd_config(directory: Path, port: int, host_key: Path, legacy: bool) -> str:
    lines = [
        f"ListenAddress {LOOPBACK}",
        f"Port {port}",
        f"HostKey {host_key}",
        f"AuthorizedKeysFile {directory / 'authorized_keys'}",
        "PidFile none",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PrintMotd no",
        "LogLevel VERBOSE",
        # bash sources ~/.bashrc for a top-level `bash -c` started by sshd; a
        # developer's rc file (pyenv init, say) would add ~90 ms to every command
        # and swamp the timings. SHLVL=1 makes it a nested shell: no rc file, as
        # with OpenWrt's ash under dropbear.
        "SetEnv SHLVL=1",
        # No Subsystem line: no SFTP, like stock OpenWrt's dropbear.
    ]
    if legacy:
        lines += [
            "HostKeyAlgorithms ssh-rsa",
            "PubkeyAcceptedAlgorithms ssh-rsa",
            # What dropbear 2019.78 negotiates (it has no chacha20 and no etm MACs).
            "KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org,"
            "diffie-hellman-group14-sha256,diffie-hellman-group14-sha1",
            "Ciphers aes128-ctr,aes256-ctr",
            "MACs hmac-sha1,hmac-sha2-256",
        ]
    return "\n".join(lines) + "\n"


def start_sshd(directory: Path, authorized: list[str], *, legacy: bool = False) -> SshServer:
    """OpenSSH's sshd on a free port of 127.0.0.1, foreground, logging to a file."""
    directory.mkdir(parents=True, exist_ok=True)
    # sshd's privilege separation directory; Debian creates it at boot only.
    with contextlib.suppress(PermissionError):  # only root's sshd needs it
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host_key = directory / ("ssh_host_rsa_key" if legacy else "ssh_host_ed25519_key")
    presented = keygen(host_key, "rsa" if legacy else "ed25519")
    (directory / "authorized_keys").write_text("\n".join(authorized) + "\n", encoding="ascii")
    for _ in range(3):  # another process may take the free port before sshd binds it
        port = free_port()
        config = directory / "sshd_config"
        config.write_text(_sshd_config(directory, port, host_key, legacy), encoding="ascii")
        log = directory / "sshd.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
            )
        server = SshServer("sshd-legacy" if legacy else "sshd", port, presented, log, proc)
        if _wait_listening(server, b"Server listening on"):
            return server
        server.stop()
    raise RuntimeError(f"sshd did not start:\n{server.log_text()}")


def dropbear_usable() -> str | None:
    """Why dropbear cannot run here, or None when it can."""
    if shutil.which("dropbearkey") is None or not Path(DROPBEAR).exists():
        return "Debian package dropbear-bin is not installed"
    if os.getuid() != 0:
        return "dropbear needs root here (a private mount namespace hides ~/.ssh)"
    probe = subprocess.run(
        ["unshare", "--mount", "true"], capture_output=True, check=False, timeout=10
    )
    if probe.returncode != 0:
        return f"unshare --mount is not permitted: {probe.stderr.decode().strip()}"
    return None


# Runs inside `unshare --mount` (mounts are private to it): a tmpfs over the
# login's home, the test's authorized_keys in it, then dropbear itself.
_DROPBEAR_SCRIPT = """set -e
mount -t tmpfs -o mode=0755 meshkeeper-test "$1"
mkdir -m 0700 "$1/.ssh"
cp "$2" "$1/.ssh/authorized_keys"
chmod 0600 "$1/.ssh/authorized_keys"
shift 2
exec "$@"
"""


def start_dropbear(directory: Path, authorized: list[str]) -> SshServer:
    """Debian's dropbear on a free port of 127.0.0.1 with an Ed25519 host key."""
    directory.mkdir(parents=True, exist_ok=True)
    host_key = directory / "dropbear_ed25519_host_key"
    subprocess.run(
        ["dropbearkey", "-t", "ed25519", "-f", str(host_key)], check=True, capture_output=True
    )
    shown = subprocess.run(
        ["dropbearkey", "-y", "-f", str(host_key)], check=True, capture_output=True, text=True
    ).stdout
    presented = next(" ".join(line.split()[:2]) for line in shown.splitlines() if "ssh-" in line)
    keys = directory / "authorized_keys"
    keys.write_text("\n".join(authorized) + "\n", encoding="ascii")
    home = pwd.getpwuid(os.getuid()).pw_dir
    for _ in range(3):
        port = free_port()
        log = directory / "dropbear.log"
        argv = [
            "unshare", "--mount", "sh", "-c", _DROPBEAR_SCRIPT, "dropbear", home, str(keys),
            DROPBEAR, "-F", "-E", "-s", "-p", f"{LOOPBACK}:{port}",
            "-r", str(host_key), "-P", str(directory / "dropbear.pid"),
        ]  # fmt: skip
        with log.open("wb") as sink:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
        server = SshServer("dropbear", port, presented, log, proc)
        if _wait_listening(server, b"Not backgrounding"):
            return server
        server.stop()
    raise RuntimeError(f"dropbear did not start:\n{server.log_text()}")


def _wait_listening(server: SshServer, banner: bytes, limit: float = 5.0) -> bool:
    """True once the server accepts TCP connections; False if it died."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        if banner in server.log.read_bytes():
            try:
                with socket.create_connection((LOOPBACK, server.port), timeout=1):
                    return True
            except OSError:
                pass
        time.sleep(0.02)
    return False
