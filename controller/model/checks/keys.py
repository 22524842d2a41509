"""SSH keys written into the inventory itself: pinned host keys and inline authorized keys.

A pinned `ssh.host_key` is read with the parser push uses (PublicKey.parse),
then its data is checked against its type, so push never meets a pin it cannot
use. An inline `ssh.authorized_keys` entry must be a key line dropbear accepts,
by the same rule as a key file's lines (controller/render/dropbear.py).
"""

from __future__ import annotations

from controller.model.checks.located import Found, at_node
from controller.model.inventory import Inventory
from controller.render.dropbear import blob_problem, key_problem

HOST_KEY_TODO = (
    "paste the router's key as `ssh-keyscan -t ed25519 ADDRESS` prints it (TYPE BASE64), "
    "or remove ssh.host_key to trust .meshkeeper/known_hosts"
)


def host_key_problem(text: str) -> tuple[str, str] | None:
    """What keeps `text` from being a pin push can check a router's key against."""
    # Imported here: the transport package loads paramiko, which only a pin needs.
    from controller.transport.base import KEY_TYPES, PublicKey

    try:
        key = PublicKey.parse(text)
    except ValueError:
        return (
            "is not an SSH host key 'TYPE BASE64' of a type routers present "
            f"({', '.join(sorted(KEY_TYPES))})",
            HOST_KEY_TODO,
        )
    problem = blob_problem(key.key_type, key.blob)
    return None if problem is None else (problem[0], HOST_KEY_TODO)


def check_host_keys(inv: Inventory) -> Found:
    for name, node in sorted(inv.nodes.items()):
        if node.ssh.host_key is None:
            continue
        problem = host_key_problem(node.ssh.host_key)
        if problem is not None:
            yield at_node(inv, name, ("ssh", "host_key"), *problem)


def check_inline_keys(inv: Inventory) -> Found:
    for name, node in sorted(inv.nodes.items()):
        for index, entry in enumerate(node.ssh.authorized_keys):
            problem = key_problem(entry) if isinstance(entry, str) else None
            if problem is not None:
                yield at_node(inv, name, ("ssh", "authorized_keys", index), *problem)
