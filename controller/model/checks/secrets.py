"""Checks that need the secrets (and key files) themselves: they exist and fit.

Values are resolved to be measured, never printed: a message names the
reference ({file: ...} / {env: ...}), never what is behind it.
"""

from __future__ import annotations

from controller.errors import SecretError
from controller.model.checks.located import Found, at, at_node
from controller.model.inventory import Inventory
from controller.model.sources import Path
from controller.model.types import EnvSecret, FileSecret
from controller.secrets import resolve

PUBKEY = "public key"
KEY_TYPES = ("ssh-", "ecdsa-", "sk-")


def _value_problem(value: str, kind: str) -> tuple[str, str] | None:
    """What is wrong with a resolved value for its use, or None."""
    if kind == PUBKEY:
        lines = [x for x in value.splitlines() if x.strip() and not x.startswith("#")]
        if not lines or any(
            not x.split()[0].startswith(KEY_TYPES) or len(x.split()) < 2 for x in lines
        ):
            return (
                "does not hold SSH public keys ('TYPE BASE64 [comment]' lines)",
                "point it at a .pub file",
            )
        return None
    if kind == "psk2" and len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return None  # a raw 256-bit PSK in hex
    if kind in ("psk2", "sae", "sae-mixed") and not 8 <= len(value) <= 63:
        return (
            f"is {len(value)} characters; {kind} needs a passphrase of 8 to 63 characters",
            "use a key of 8 to 63 characters",
        )
    return None


def check_secrets(inv: Inventory) -> Found:
    """Resolve every secret (nothing is printed) to check it exists and is long enough."""
    refs: list[tuple[Path, str, EnvSecret | FileSecret, str | None]] = []
    if inv.mesh.key is not None:
        refs.append((("mesh", "key"), "", inv.mesh.key, "sae"))
    for name, node in sorted(inv.nodes.items()):
        for index, ap in enumerate(node.access_points):
            if ap.key is not None:
                refs.append((("access_points", index, "key"), name, ap.key, ap.encryption))
        for index, uplink in enumerate(node.uplinks):
            if uplink.password is not None:
                refs.append((("uplinks", index, "password"), name, uplink.password, None))
        for index, entry in enumerate(node.ssh.authorized_keys):
            if isinstance(entry, FileSecret):
                refs.append((("ssh", "authorized_keys", index), name, entry, PUBKEY))
    for receiver, spec in sorted(inv.noc.receivers.items()):
        if spec.webhook is not None:
            refs.append((("noc", "receivers", receiver, "webhook"), "", spec.webhook, None))
    checked: dict[EnvSecret | FileSecret, str | SecretError] = {}
    for path, owner, ref, kind in refs:
        if ref not in checked:
            try:
                checked[ref] = resolve(ref, inv.root).reveal()
            except SecretError as exc:
                checked[ref] = exc
        result = checked[ref]
        if isinstance(result, SecretError):
            what, _, todo = str(result).partition(" — ")
            if kind == PUBKEY:
                todo += " (`ssh-keygen -t ed25519 -f KEY` makes a key pair)"
            problem: tuple[str, str] | None = (what, todo)
        else:
            problem = _value_problem(result, kind) if kind else None
        if problem is None:
            continue
        if owner:
            yield at_node(inv, owner, path, *problem)
        else:
            yield at(inv, path, *problem)
