"""Checks that need the secrets (and key files) themselves: they exist and fit.

Values are resolved to be measured, never printed: a message names the
reference ({file: ...} / {env: ...}), never what is behind it. The rules are
the ones render applies (controller/secrets.py for where files may be and
what values may hold, controller/render/dropbear.py for public keys), so what
passes here renders, and what render would refuse is reported here first.
"""

from __future__ import annotations

from collections.abc import Iterator

from controller.model.checks.located import Found, at, at_node
from controller.model.inventory import Inventory
from controller.model.sources import Path
from controller.model.types import EnvSecret, FileSecret
from controller.render.context import SecretCache
from controller.render.dropbear import authorized_keys_problem
from controller.secrets import (
    LAB_KEYS_COMMAND,
    MESH_KEY,
    PASSWORD,
    TOKEN,
    WEBHOOK,
    SecretProblem,
    brief,
    value_problem,
)

PUBKEY = "public key"
KEY_TYPES = ("ssh-", "ecdsa-", "sk-")
KEYGEN_HINT = " (`ssh-keygen -t ed25519 -f KEY` makes a key pair)"

Ref = EnvSecret | FileSecret
Use = tuple[Path, str, Ref, str]  # (field path, owning node or "", reference, use)


def check_secrets(inv: Inventory) -> Found:
    """Resolve every secret (nothing is printed) to check it exists and fits its use."""
    secrets = SecretCache(inv)
    verdicts: dict[tuple[Ref, str], tuple[str, str] | None] = {}
    for path, owner, ref, use in _uses(inv):
        if (ref, use) not in verdicts:
            verdicts[ref, use] = _verdict(secrets, ref, use)
        problem = verdicts[ref, use]
        if problem is None:
            continue
        if owner:
            yield at_node(inv, owner, path, *problem)
        else:
            yield at(inv, path, *problem)


def _verdict(secrets: SecretCache, ref: Ref, use: str) -> tuple[str, str] | None:
    try:
        value = secrets.get(ref).reveal()
    except SecretProblem as exc:
        todo = exc.todo
        if use == PUBKEY and exc.missing and LAB_KEYS_COMMAND not in todo:
            todo += KEYGEN_HINT
        return (f"{brief(str(ref))}: {exc.what}", todo)
    if use == PUBKEY:
        return authorized_keys_problem(value)
    return value_problem(value, use)


def _uses(inv: Inventory) -> Iterator[Use]:
    """Every secret reference, where it is, and what it becomes on the router."""
    if inv.mesh.key is not None:
        yield (("mesh", "key"), "", inv.mesh.key, MESH_KEY)
    for name, node in sorted(inv.nodes.items()):
        for index, ap in enumerate(node.access_points):
            if ap.key is not None:
                yield (("access_points", index, "key"), name, ap.key, ap.encryption)
        for index, uplink in enumerate(node.uplinks):
            if uplink.password is not None:
                yield (("uplinks", index, "password"), name, uplink.password, PASSWORD)
        for index, entry in enumerate(node.ssh.authorized_keys):
            if isinstance(entry, FileSecret):
                yield (("ssh", "authorized_keys", index), name, entry, PUBKEY)
        auth = node.agent.basic_auth
        if node.agent.enabled and auth is not None:
            yield (("agent", "basic_auth", "password"), name, auth.password, PASSWORD)
    for receiver, spec in sorted(inv.noc.receivers.items()):
        if spec.webhook is not None:
            yield (("noc", "receivers", receiver, "webhook"), "", spec.webhook, WEBHOOK)
    if inv.noc.smtp is not None and inv.noc.smtp.password is not None:
        yield (("noc", "smtp", "password"), "", inv.noc.smtp.password, PASSWORD)
    for index, store in enumerate(inv.noc.remote_write):
        if store.bearer_token is not None:
            yield (("noc", "remote_write", index, "bearer_token"), "", store.bearer_token, TOKEN)
