"""`dropbear`: key-only SSH on every address, fenced by the firewall.

One section and no `option Interface`, as stock OpenWrt ships it. With
`Interface`, dropbear binds only that logical interface's addresses, and an
interface with no device of its own gets no listener at all
(../shared/FIELD-NOTES.md): babel's `mesh` has none (the 802.11s radio joins
it through wireless), so a wired-only node, or one whose mesh radio is down,
would come up with SSH listening nowhere and be lost until someone climbs the
roof. The firewall is the fence instead: SSH is accepted from the mesh zone
(mesh links, wired mesh ports, management, the NOC) and rejected from the LAN
and wan zones (firewall.py); `meshkeeper check` refuses a node whose
management address would not be reachable that way (model/checks/access.py).

authorized_keys lines are checked as dropbear reads them (`[options] TYPE
BASE64 [comment]`, options and key types it knows, base64 data that holds a
key of TYPE): a line it would skip is refused, by `check` first
(model/checks/secrets.py for key files, model/checks/keys.py inline) and here.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

from controller.errors import MeshkeeperError
from controller.render.context import NodeContext, section
from controller.secrets import SecretProblem, describe_character
from controller.uci import Section

PACKAGE = "dropbear"
SECTION = "main"  # as current stock names it (19.07 shipped it anonymous)

# Key types dropbear accepts in authorized_keys, and the SSH strings each key's
# data holds (RFC 4253 6.6, RFC 5656, OpenSSH PROTOCOL.u2f): the type name first.
KEY_FIELDS = {
    "ssh-ed25519": 2,  # type, 32-byte key
    "ssh-rsa": 3,  # type, e, n
    "ecdsa-sha2-nistp256": 3,  # type, curve, point
    "ecdsa-sha2-nistp384": 3,
    "ecdsa-sha2-nistp521": 3,
    "sk-ssh-ed25519@openssh.com": 3,  # type, key, application
    "sk-ecdsa-sha2-nistp256@openssh.com": 4,  # type, curve, point, application
}
KEY_TODO = "paste the .pub file's line whole: TYPE BASE64 [comment]"
# authorized_keys options dropbear knows (svr-authpubkeyoptions.c): with any other it
# skips the line, so the key would silently not log in.
OPTIONS = frozenset(
    {
        "no-port-forwarding",
        "no-agent-forwarding",
        "no-x11-forwarding",
        "no-pty",
        "no-touch-required",
        "restrict",
    }
)
VALUED_OPTIONS = frozenset({"command", "permitopen"})
_OPTION = re.compile(r'([A-Za-z0-9-]+)(?:="((?:[^"\\]|\\.)*)")?')

Problem = tuple[str, str]  # (what is wrong, what to do)


def render(ctx: NodeContext) -> Iterator[tuple[str, Section]]:
    yield (
        PACKAGE,
        section(
            "dropbear",
            SECTION,
            PasswordAuth="off",
            RootPasswordAuth="off",
            RootLogin=True,
            Port=ctx.node.ssh.port,
        ),
    )


def authorized_keys(ctx: NodeContext) -> str:
    """/etc/dropbear/authorized_keys: one key per line, in inventory order, no repeats.

    What `check` would refuse (checks/secrets.py, checks/keys.py) is refused here too."""
    lines: list[str] = []
    for index, entry in enumerate(ctx.node.ssh.authorized_keys):
        if isinstance(entry, str):
            problem = key_problem(entry)
            if problem is not None:
                raise MeshkeeperError(
                    f"node {ctx.node.name}: ssh.authorized_keys[{index}] {problem[0]} — "
                    f"{problem[1]}"
                )
            text = entry
        else:
            text = ctx.secrets.get(entry).reveal()
            problem = authorized_keys_problem(text)
            if problem is not None:
                raise SecretProblem(entry, *problem)
        for raw in text.split("\n"):
            line = raw.strip()
            if line and not line.startswith("#") and line not in lines:
                lines.append(line)
    return "".join(f"{line}\n" for line in lines)


def authorized_keys_problem(text: str) -> Problem | None:
    """What keeps a key file's text from being authorized_keys lines, or None:
    one key per line, `#` comments and blank lines allowed, no control characters."""
    keys = 0
    for number, raw in enumerate(text.split("\n"), 1):
        bad = next((c for c in raw if not c.isprintable()), None)
        if bad is not None:
            return (
                f"line {number} contains {describe_character(bad)}",
                "one key per line, as ssh-keygen writes a .pub file (Unix line endings)",
            )
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        problem = key_problem(line)
        if problem is not None:
            return (f"line {number} {problem[0]}", problem[1])
        keys += 1
    if keys == 0:
        return (
            "does not hold SSH public keys ('TYPE BASE64 [comment]' lines)",
            "point it at a .pub file",
        )
    return None


def key_problem(line: str) -> Problem | None:
    """What keeps one authorized_keys line (`[options] TYPE BASE64 [comment]`) from
    being a key dropbear accepts, or None."""
    options, words = _split_options(line)
    if not words or words[0] not in KEY_FIELDS:
        return (
            f"is not an SSH public key of a known type ({', '.join(sorted(KEY_FIELDS))})",
            KEY_TODO,
        )
    if options and (problem := _options_problem(options)) is not None:
        return problem
    if len(words) < 2:
        return (f"has no key data after {words[0]}", KEY_TODO)
    try:
        blob = base64.b64decode(words[1], validate=True)
    except ValueError:
        return (
            "has key data that is not valid base64 (cut short or changed in copying?)",
            KEY_TODO,
        )
    return blob_problem(words[0], blob)


def blob_problem(key_type: str, blob: bytes) -> Problem | None:
    """What is wrong with a public key's decoded data for its stated type, or None."""
    fields = _ssh_strings(blob)
    if not fields or fields[0] != key_type.encode():
        return (f"says {key_type} but its key data is not a {key_type} key", KEY_TODO)
    expected = KEY_FIELDS.get(key_type)
    short = expected is not None and len(fields) != expected
    if short or (key_type.endswith("ed25519") and len(fields[1]) != 32):
        return (f"has {key_type} key data that is cut short or malformed", KEY_TODO)
    curve = key_type.split("@")[0].rsplit("-", 1)[-1]  # ecdsa-sha2-nistp256 → nistp256
    if "ecdsa" in key_type and fields[1] != curve.encode():
        return (f"has {key_type} key data for another curve", KEY_TODO)
    return None


def _ssh_strings(blob: bytes) -> list[bytes] | None:
    """The data as SSH strings (4-byte big-endian length, bytes), or None if it is not."""
    fields = []
    pos = 0
    while pos < len(blob):
        if pos + 4 > len(blob):
            return None
        size = int.from_bytes(blob[pos : pos + 4], "big")
        pos += 4
        if pos + size > len(blob):
            return None
        fields.append(blob[pos : pos + size])
        pos += size
    return fields


def _split_options(line: str) -> tuple[str, list[str]]:
    """(options, [TYPE, BASE64, comment...]) of a line; options may hold quoted spaces."""
    words = line.split()
    if not words or words[0] in KEY_FIELDS:
        return "", words
    quoted = False
    for pos, char in enumerate(line):
        if char == '"' and (pos == 0 or line[pos - 1] != "\\"):
            quoted = not quoted
        elif char.isspace() and not quoted:
            return line[:pos], line[pos:].split()
    return line, []


def _options_problem(options: str) -> Problem | None:
    """Dropbear skips a key line whose options it cannot read or does not know."""
    unreadable = ("has options dropbear cannot read", 'write them as name or name="value", ...')
    found: list[re.Match[str]] = []
    pos = 0
    while True:
        match = _OPTION.match(options, pos)
        if match is None:
            return unreadable
        found.append(match)
        pos = match.end()
        if pos == len(options):
            break
        if options[pos] != ",":
            return unreadable
        pos += 1
    for match in found:
        name, valued = match.group(1).lower(), match.group(2) is not None
        if (name in OPTIONS and not valued) or (name in VALUED_OPTIONS and valued):
            continue
        return (
            f"has an option dropbear does not know (it knows {', '.join(sorted(OPTIONS))}, "
            'command="...", permitopen="...")',
            "remove it, or paste the .pub file's line whole: TYPE BASE64 [comment]",
        )
    return None
