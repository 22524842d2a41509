"""Secret references, resolved only when needed and never shown.

An inventory holds `{env: NAME}` or `{file: PATH}`, never a secret. `resolve`
returns a `SecretValue` whose repr and str are redacted, so a secret that
reaches a log line, a traceback or a diff by mistake still shows as `<secret>`.

Which files a `{file: PATH}` may name (checked by `resolve`, so `check`,
`render` and `push` all refuse the same files):
- a relative PATH starts at the inventory directory; the file's real path
  (symbolic links followed) must lie inside the inventory directory or inside
  the `.meshkeeper/` directory beside it (where `meshkeeper lab keys` puts the
  practice lab's keys). Anything else (`/etc/shadow`, `../../..`, `~/...`) is
  refused, with a message saying where secrets may live;
- a regular file of at most 64 KiB: never a FIFO, device, socket or directory
  (they are refused before being opened, and again by fstat after an
  O_NOFOLLOW|O_NONBLOCK open, and at most 64 KiB + 1 byte is ever read);
- never the controller's own private key (any node's `ssh.key_file`, under any
  name: hard and symbolic links are the same file), nor anything holding a
  private key (`PRIVATE KEY-----`, PuTTY key files);
- UTF-8 text; one trailing newline (an editor's) is not part of the secret.

What a value may hold depends on where it goes (`value_problem`): every
secret is one line of printable text, not empty, without leading or trailing
spaces; a WPA/SAE passphrase is 8 to 63 printable ASCII characters (psk2 also
takes 64 hex digits); a password is at most 255 bytes; a webhook is an
http(s) URL with a host and no whitespace. Public keys for authorized_keys
are checked by controller/render/dropbear.py. Messages name the reference,
never the value.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from string import hexdigits
from urllib.parse import urlsplit

from controller.errors import SecretError
from controller.model.types import EnvSecret, FileSecret

REDACTED = "<secret>"
MAX_BYTES = 64 * 1024
MAX_PASSWORD_BYTES = 255  # pppd's limit on a PAP/CHAP secret
STATE_DIR = ".meshkeeper"  # beside the inventory: known_hosts, push state, the lab's keys
LAB_KEYS_COMMAND = "meshkeeper lab keys"

# What a secret becomes on the router: an access point's `encryption`, or one of these.
PASSWORD = "password"  # noqa: S105 (a use, not a password): PPPoE, the agent's scrape one
WEBHOOK = "webhook"
TOKEN = "token"  # noqa: S105 (a use): a bearer token Prometheus sends (remote_write)
MESH_KEY = "sae"  # the 802.11s mesh is encrypted with SAE
PASSPHRASES = ("psk2", "sae", "sae-mixed")

_PRIVATE_KEY_MARKS = (b"PRIVATE KEY-----", b"PuTTY-User-Key-File-")
_NAMED = {
    "\n": "a line break (U+000A)",
    "\r": "a carriage return (U+000D)",
    "\t": "a tab (U+0009)",
    "\x00": "a NUL byte (U+0000)",
}

Problem = tuple[str, str]  # (what is wrong, what to do)


def brief(text: str, limit: int = 80) -> str:
    """A path or reference as a message shows it: escaped, and its middle cut when long
    (the start says where, the end which file)."""
    text = (
        text
        if text.isprintable()
        else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    )
    return text if len(text) <= limit else f"{text[: limit // 2]}…{text[-(limit // 2) :]}"


class SecretProblem(SecretError):
    """A reference that cannot be used; `what` and `todo` never hold the secret."""

    def __init__(
        self, ref: EnvSecret | FileSecret, what: str, todo: str, *, missing: bool = False
    ) -> None:
        self.ref = ref
        self.what = what
        self.todo = todo
        self.missing = missing  # the file does not exist
        super().__init__(f"{brief(str(ref))}: {what} — {todo}")


class SecretValue:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def resolve(
    ref: EnvSecret | FileSecret, root: Path, *, login_keys: Iterable[Path] = ()
) -> SecretValue:
    """The secret behind `ref`; `root` is the inventory directory for relative files.

    `login_keys` are the controller's private keys (every node's ssh.key_file),
    which are never read as a secret."""
    if isinstance(ref, EnvSecret):
        value = os.environ.get(ref.env)
        if value is None:
            raise SecretProblem(
                ref,
                f"the environment variable {ref.env} is not set",
                f"export {ref.env}=... before running meshkeeper",
            )
        return SecretValue(value)
    text = _read_secret_file(ref, root, login_keys)
    # A trailing newline is an editor's, not part of the secret.
    return SecretValue(text[:-1] if text.endswith("\n") else text)


def secret_dirs(root: Path) -> tuple[Path, Path]:
    """Where secret files may live: the inventory directory and `.meshkeeper/` beside it."""
    inventory = Path(os.path.realpath(root))
    return inventory, Path(os.path.realpath(inventory.parent / STATE_DIR))


def _read_secret_file(ref: FileSecret, root: Path, login_keys: Iterable[Path]) -> str:
    written = Path(ref.file).expanduser()
    path = written if written.is_absolute() else root / written
    real = Path(os.path.realpath(path))
    inventory, state = secret_dirs(root)
    if not (real.is_relative_to(inventory) or real.is_relative_to(state)):
        leads = "" if real == Path(os.path.normpath(path.absolute())) else f" (it leads to {real})"
        raise SecretProblem(
            ref,
            f"{brief(str(path))}{leads} is outside the inventory directory",
            f"keep secret files in {inventory} or {state} (a relative path starts at the "
            "inventory directory), or use {env: NAME}",
        )
    try:
        data, identity = read_regular_file(real, follow_links=False)
    except FileNotFoundError as exc:
        lab = real.is_relative_to(state / "lab")
        todo = (
            f"run `{LAB_KEYS_COMMAND}` to make the practice lab's keys (on a real network, "
            "point at your own file)"
            if lab
            else "create it or fix the path"
        )
        raise SecretProblem(
            ref, f"cannot read {brief(str(path))} ({exc.strerror})", todo, missing=True
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SecretProblem(
            ref, f"cannot read {brief(str(path))} ({reason})", "fix its permissions or the path"
        ) from None
    except FileRefused as exc:
        raise SecretProblem(ref, f"{brief(str(path))} {exc.what}", exc.todo) from None
    todo = "a private key never leaves the controller: for authorized_keys use its .pub"
    if identity in _identities(login_keys):
        raise SecretProblem(
            ref, f"{brief(str(path))} is the controller's private key (ssh.key_file)", todo
        )
    if any(mark in data for mark in _PRIVATE_KEY_MARKS):
        raise SecretProblem(ref, f"{brief(str(path))} holds a private key", todo)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretProblem(
            ref, f"cannot read {brief(str(path))} (not UTF-8 text)", "save it as UTF-8 text"
        ) from None


class FileRefused(ValueError):
    """A path that is not a small regular file; `what` says what it is instead."""

    def __init__(self, what: str, todo: str) -> None:
        self.what = what
        self.todo = todo
        super().__init__(f"{what} — {todo}")


def read_regular_file(
    path: Path, *, follow_links: bool = True, limit: int = MAX_BYTES
) -> tuple[bytes, tuple[int, int]]:
    """The bytes of a regular file of at most `limit` bytes, and its (device, inode).

    Nothing else is opened (a FIFO would block, a device may never end) and no
    more than `limit` + 1 bytes are read. Raises OSError or FileRefused."""
    before = path.stat(follow_symlinks=follow_links)
    _require_small_regular(before, limit)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    fd = os.open(path, flags if follow_links else flags | os.O_NOFOLLOW)
    try:
        after = os.fstat(fd)
        _require_small_regular(after, limit)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise FileRefused("was replaced while it was read", "try again")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise _too_large(limit)
    return b"".join(chunks), (after.st_dev, after.st_ino)


def _require_small_regular(info: os.stat_result, limit: int) -> None:
    mode = info.st_mode
    if not stat.S_ISREG(mode):
        kind = (
            "a directory"
            if stat.S_ISDIR(mode)
            else "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a symbolic link"
            if stat.S_ISLNK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
        )
        raise FileRefused(f"is {kind}, not a regular file", "point at a regular file")
    if info.st_size > limit:
        raise _too_large(limit)


def _too_large(limit: int) -> FileRefused:
    return FileRefused(
        f"is larger than {limit // 1024} KiB, more than any secret or key file",
        "point at the secret's own small file",
    )


def _identities(paths: Iterable[Path]) -> set[tuple[int, int]]:
    found = set()
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue  # a missing login key holds nothing to leak
        found.add((info.st_dev, info.st_ino))
    return found


# ---------------------------------------------------------------- values, by their use


def value_problem(value: str, use: str) -> Problem | None:
    """What keeps `value` from its `use` (an access point's encryption, MESH_KEY,
    PASSWORD, WEBHOOK or TOKEN), or None. The answer never contains the value."""
    problem = text_problem(value)
    if problem is not None:
        return problem
    if use == TOKEN:  # JWTs run to kilobytes; one word, sent in an HTTP header
        return (
            ("contains a space, which no bearer token does", "put only the token in it")
            if " " in value
            else None
        )
    if use in PASSPHRASES:
        return _passphrase_problem(value, use)
    if use == WEBHOOK:
        return _url_problem(value)
    size = len(value.encode("utf-8"))
    if size > MAX_PASSWORD_BYTES:
        return (
            f"is {size} bytes long; a password may be at most {MAX_PASSWORD_BYTES} bytes",
            "use a shorter password",
        )
    return None


def text_problem(value: str) -> Problem | None:
    """Every secret is one line of printable text, without surrounding spaces."""
    if not value:
        return ("is empty", "put the secret in the file or variable")
    if not value.strip():
        return ("is only whitespace", "put the secret in the file or variable")
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        return (
            f"contains {describe_character(bad)}, which would break the router's config",
            "a secret is one line of printable text: remove it (a file may end in one "
            "newline, with Unix line endings)",
        )
    if value != value.strip():
        return (
            "starts or ends with a space",
            "remove it: config files and the tools that read them may drop it",
        )
    return None


def describe_character(char: str) -> str:
    """A character that must not be in a value, named without showing the value."""
    if char in _NAMED:
        return _NAMED[char]
    category = unicodedata.category(char)
    kind = {
        "Cc": "the control character",
        "Zl": "a line separator",
        "Zp": "a paragraph separator",
        "Zs": "the space character",
        "Cf": "the invisible formatting character",
    }.get(category, "the unprintable character")
    return f"{kind} U+{ord(char):04X}"


def _passphrase_problem(value: str, use: str) -> Problem | None:
    if use == "psk2" and len(value) == 64 and all(c in hexdigits for c in value):
        return None  # a raw 256-bit PSK in hex
    if not value.isascii():
        return (
            f"holds characters outside printable ASCII; a {use} passphrase is 8 to 63 "
            "printable ASCII characters",
            "use only ASCII letters, digits, punctuation and spaces (no accents or emoji)",
        )
    if not 8 <= len(value) <= 63:
        todo = "use a key of 8 to 63 characters"
        if use == "psk2" and len(value) == 64:
            todo += ", or exactly 64 hex digits (a raw PSK)"
        return (f"is {len(value)} characters; {use} needs a passphrase of 8 to 63 characters", todo)
    return None


def _url_problem(value: str) -> Problem | None:
    todo = "write the receiver's full URL, such as https://HOST/PATH"
    if any(c.isspace() for c in value):
        return ("contains whitespace, which no URL holds", "encode a space as %20")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a port that is not a number (or past 65535) raises here
    except ValueError:
        return ("is not a valid URL (check the host and port)", todo)
    if parts.scheme not in ("http", "https"):
        return ("is not an http:// or https:// URL", todo)
    if not parts.hostname:
        return ("has no host", todo)
    return None
