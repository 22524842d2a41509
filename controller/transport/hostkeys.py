"""Which host key each router must present, and the strict policy that checks it.

The store is an OpenSSH known_hosts file at a path the caller gives (the
project keeps it as `.meshkeeper/known_hosts` beside the inventory), so
`ssh-keygen -F/-R -f FILE` work on it and the OpenSSH transport reads the very
same file. Entries are `host` for port 22 and `[host]:port` otherwise; hashed
names (`|1|salt|hash`), `*`/`?` wildcards and `!negation` are understood.
Lines with a marker (`@cert-authority`, `@revoked`) are kept but not used.

Policy, strict by default:
- a key pinned in the inventory (`ssh.host_key`) overrides the file: the
  router must present exactly that key, whatever the file says;
- otherwise the presented key must be one the file lists for the address;
- no entry at all → HostKeyUnknown, unless the operator passed
  --accept-new-host-keys (then the key is recorded and the connection goes on);
- entries, but not this key → HostKeyChanged (never overwritten silently).

The file is rewritten atomically (temporary file, fsync, rename) with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from controller.transport.base import KEY_TYPES, PublicKey, SshTarget, host_label
from controller.transport.errors import HostKeyChanged, HostKeyUnknown, KnownKeyRecord


@dataclass(frozen=True)
class KnownHostEntry:
    """One usable line of a known_hosts file."""

    line: int  # 1-based
    patterns: str
    key: PublicKey


class KnownHosts:
    """An OpenSSH known_hosts file; read fresh on each lookup (it is small)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def entries(self) -> list[KnownHostEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [e for n, line in enumerate(text.splitlines(), 1) if (e := _parse_line(n, line))]

    def lookup(self, host: str, port: int) -> list[KnownHostEntry]:
        """Entries whose host patterns match `host` on `port`."""
        label = host_label(host, port)
        return [e for e in self.entries() if _matches(label, e.patterns)]

    def add(self, host: str, port: int, key: PublicKey) -> None:
        """Record `key` for the address (after the operator accepted new keys)."""
        with self._lock:
            try:
                old = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                old = ""
            if old and not old.endswith("\n"):
                old += "\n"
            self._write(old + f"{host_label(host, port)} {key}\n")

    def ensure_exists(self) -> None:
        """Create an empty 0600 file so that writers that append keep that mode."""
        with self._lock:
            if not self.path.exists():
                self._write("")

    def verify(self, target: SshTarget, presented: PublicKey, *, accept_new: bool) -> None:
        """Apply the strict policy to the key a router presented, before any login."""
        pin = target.pinned
        if pin is not None:
            if presented == pin:
                return
            record = KnownKeyRecord(
                pin.key_type, pin.fingerprint, f"the inventory's ssh.host_key of node {target.node}"
            )
            raise self._changed(target, presented, [record])
        known = self.lookup(target.host, target.port)
        if any(entry.key == presented for entry in known):
            return
        if known:
            records = [
                KnownKeyRecord(e.key.key_type, e.key.fingerprint, str(self.path), e.line)
                for e in known
            ]
            raise self._changed(target, presented, records)
        if not accept_new:
            raise HostKeyUnknown(
                target.node, target.address, presented.key_type, presented.fingerprint, self.path
            )
        self.add(target.host, target.port, presented)

    def record_at(self, line: int) -> KnownKeyRecord | None:
        """The trusted key on a given line (OpenSSH names the offending line)."""
        for entry in self.entries():
            if entry.line == line:
                key = entry.key
                return KnownKeyRecord(key.key_type, key.fingerprint, str(self.path), line)
        return None

    def _changed(
        self, target: SshTarget, presented: PublicKey, known: list[KnownKeyRecord]
    ) -> HostKeyChanged:
        return HostKeyChanged(
            target.node,
            target.address,
            presented.key_type,
            presented.fingerprint,
            known,
            self.path,
        )

    def _write(self, text: str) -> None:
        directory = self.path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".known_hosts.", dir=directory)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _parse_line(number: int, line: str) -> KnownHostEntry | None:
    fields = line.split()
    if not fields or fields[0].startswith(("#", "@")) or len(fields) < 3:
        return None
    patterns, key_type, data = fields[:3]
    if key_type not in KEY_TYPES:
        return None
    try:
        key = PublicKey.from_base64(key_type, data)
    except ValueError:
        return None
    return KnownHostEntry(number, patterns, key)


def _matches(label: str, patterns: str) -> bool:
    """OpenSSH's rule: any negated match excludes; otherwise any match includes."""
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if _match_one(label, pattern[1:] if negated else pattern):
            if negated:
                return False
            matched = True
    return matched


def _match_one(label: str, pattern: str) -> bool:
    if pattern.startswith("|1|"):
        salt, _, digest = pattern[3:].partition("|")
        try:
            mac = hmac.new(base64.b64decode(salt), label.encode(), hashlib.sha1).digest()
            return hmac.compare_digest(mac, base64.b64decode(digest))
        except ValueError:
            return False
    if "*" in pattern or "?" in pattern:
        regex = "".join(
            ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower()
        )
        return re.fullmatch(regex, label.lower()) is not None
    return pattern.lower() == label.lower()
