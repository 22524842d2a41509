"""The lab CA and per-name server certificates, made with the openssl CLI.

    ca = LabCA(Path(".meshkeeper/lab/pki"))
    ca.ensure()                                  # ca.crt + ca.key, made once
    pair = ca.issue("www", ["www.example.test", "*.example.test", "198.18.1.10"])
    # pair.cert, pair.key -> a "tls" entry of the services config
    # ca.ca_cert         -> the cafile lab clients trust

Idempotent: existing files are reused while they are valid (key matches the
certificate, signed by the current CA, the same names, 30 days or more left);
otherwise they are made anew. Keys are written 0600 and replaced atomically;
a lock file serialises concurrent callers. openssl is run with an argument
list, never a shell, and names are validated before they reach it.

`python -m lab.services.ca DIR LABEL NAME...` does the same from a shell.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lab.services.errors import CertificateError
from lab.services.names import LABEL, is_dns_name, normalize_name

CA_DAYS = 3650
LEAF_DAYS = 397
RENEW_SECONDS = 30 * 86400
_TIMEOUT = 60

# Our own openssl.cnf, so the host's (whatever it holds) never changes what we make.
_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
"""
_LEAF_EXT = """\
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {san}
"""


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as files."""

    cert: Path
    key: Path


class LabCA:
    """The lab CA in `directory`: `ca.crt` for clients to trust, `ca.key` (0600)."""

    def __init__(self, directory: Path, *, openssl: str | None = None) -> None:
        self.directory = directory
        self._openssl = openssl

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    def ensure(self) -> Path:
        """Make the CA unless a valid one is there; the path of its certificate."""
        with self._locked():
            self._ensure_ca()
        return self.ca_cert

    def issue(self, label: str, names: Sequence[str]) -> Issued:
        """A certificate for `names` (DNS names, `*.` wildcards, IP addresses) as LABEL.crt."""
        if not LABEL.fullmatch(label):
            raise CertificateError(
                f"certificate label {label!r}: use lower-case letters, digits, - and _"
            )
        sans = _subject_alt_names(names)
        pair = Issued(self.directory / f"{label}.crt", self.directory / f"{label}.key")
        with self._locked():
            self._ensure_ca()
            if not self._leaf_valid(pair, sans):
                self._make_leaf(pair, sans)
        return pair

    # --- the CA -----------------------------------------------------------------------

    def _ensure_ca(self) -> None:
        if self._pair_valid(self.ca_cert, self.ca_key):
            return
        _write(self.ca_key, self._run("genpkey", *_EC_KEY), 0o600)
        cert = self._run(
            "req", "-x509", "-new", "-key", str(self.ca_key), "-sha256",
            "-days", str(CA_DAYS), "-subj", "/O=meshkeeper lab/CN=meshkeeper lab CA",
            "-config", str(self._config()), "-extensions", "ca",
        )  # fmt: skip
        _write(self.ca_cert, cert, 0o644)

    # --- leaves -----------------------------------------------------------------------

    def _leaf_valid(self, pair: Issued, sans: list[str]) -> bool:
        if not self._pair_valid(pair.cert, pair.key):
            return False
        if not self._succeeds("verify", "-CAfile", str(self.ca_cert), str(pair.cert)):
            return False
        try:
            shown = self._run("x509", "-in", str(pair.cert), "-noout", "-ext", "subjectAltName")
        except CertificateError:
            return False
        return _parse_sans(shown.decode("ascii", "replace")) == sorted(sans)

    def _make_leaf(self, pair: Issued, sans: list[str]) -> None:
        _write(pair.key, self._run("genpkey", *_EC_KEY), 0o600)
        common_name = sans[0].split(":", 1)[1]
        csr = self._run(
            "req", "-new", "-key", str(pair.key), "-subj", f"/CN={common_name}",
            "-config", str(self._config()),
        )  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="meshkeeper-ca-") as scratch:
            extensions = Path(scratch) / "leaf.cnf"
            extensions.write_text(_LEAF_EXT.format(san=",".join(sans)), encoding="ascii")
            cert = self._run(
                "x509", "-req", "-CA", str(self.ca_cert), "-CAkey", str(self.ca_key),
                "-set_serial", "0x" + secrets.token_hex(16), "-days", str(LEAF_DAYS),
                "-sha256", "-extfile", str(extensions), "-extensions", "leaf",
                stdin=csr,
            )  # fmt: skip
        _write(pair.cert, cert, 0o644)

    # --- shared -----------------------------------------------------------------------

    def _pair_valid(self, cert: Path, key: Path) -> bool:
        """Both files there, the key the certificate's, RENEW_SECONDS or more left."""
        if not (cert.is_file() and key.is_file()):
            return False
        if key.stat().st_mode & 0o077:
            key.chmod(0o600)
        if not self._succeeds("x509", "-in", str(cert), "-noout", "-checkend", str(RENEW_SECONDS)):
            return False
        try:
            from_cert = self._run("x509", "-in", str(cert), "-noout", "-pubkey")
            from_key = self._run("pkey", "-in", str(key), "-pubout")
        except CertificateError:
            return False
        return from_cert == from_key

    def _config(self) -> Path:
        path = self.directory / "openssl.cnf"
        if not path.is_file() or path.read_text(encoding="ascii") != _OPENSSL_CNF:
            _write(path, _OPENSSL_CNF.encode("ascii"), 0o644)
        return path

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _binary(self) -> str:
        found = self._openssl or shutil.which("openssl")
        if found is None:
            raise CertificateError("openssl not found — install the openssl package")
        return found

    def _run(self, *args: str, stdin: bytes | None = None) -> bytes:
        result = self._exec(args, stdin)
        if result.returncode != 0:
            lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
            why = lines[-1] if lines else f"exit status {result.returncode}"
            raise CertificateError(f"openssl {args[0]} failed in {self.directory}: {why}")
        return result.stdout

    def _succeeds(self, *args: str) -> bool:
        return self._exec(args, None).returncode == 0

    def _exec(self, args: Sequence[str], stdin: bytes | None) -> subprocess.CompletedProcess[bytes]:
        argv = [self._binary(), *args]
        try:
            # An argument list and no shell; names were validated by _subject_alt_names.
            return subprocess.run(
                argv, input=stdin, capture_output=True, check=False, timeout=_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CertificateError(f"cannot run openssl {args[0]}: {exc}") from exc


_EC_KEY = ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")


def _subject_alt_names(names: Sequence[str]) -> list[str]:
    """`names` as subjectAltName entries (`DNS:...`, `IP:...`); raises on anything else."""
    if not names:
        raise CertificateError("a certificate needs at least one name")
    sans: list[str] = []
    for text in names:
        try:
            sans.append(f"IP:{ipaddress.ip_address(text)}")
            continue
        except ValueError:
            pass
        name = normalize_name(text)
        if not is_dns_name(name, wildcard_ok=True):
            raise CertificateError(f"{text!r} is not a DNS name or IP address for a certificate")
        sans.append(f"DNS:{name}")
    return list(dict.fromkeys(sans))


def _parse_sans(shown: str) -> list[str]:
    """The entries `openssl x509 -ext subjectAltName` shows, written as _subject_alt_names does."""
    entries: list[str] = []
    for line in shown.splitlines()[1:]:
        for entry in line.strip().split(", "):
            kind, _, value = entry.partition(":")
            if kind == "DNS":
                entries.append(f"DNS:{value}")
            elif kind == "IP Address":
                entries.append(f"IP:{ipaddress.ip_address(value)}")
    return sorted(entries)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` atomically; the file never exists with a looser mode."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3:
        sys.stderr.write("usage: python -m lab.services.ca DIR LABEL NAME...\n")
        return 2
    ca = LabCA(Path(args[0]))
    try:
        pair = ca.issue(args[1], args[2:])
    except CertificateError as exc:
        sys.stderr.write(f"lab.services.ca: {exc}\n")
        return 1
    sys.stdout.write(f"ca {ca.ca_cert}\ncert {pair.cert}\nkey {pair.key}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
