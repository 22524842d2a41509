"""After a push, can the controller still log in? Checked before anything is pushed.

Errors: the management address (where push logs in) would be on no interface
that exists, or the firewall zone holding it would not accept the SSH port;
the renderers themselves are asked (controller/render/reach.py). Warning: the
controller's own login key is readable but not among the keys the node will
accept, so the push would lock the controller out.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

from controller.errors import MeshkeeperError, Problem
from controller.model.checks.located import Found, at_node, warn_node
from controller.model.checks.secrets import KEY_TYPES
from controller.model.inventory import Inventory
from controller.render.context import NodeContext, SecretCache
from controller.render.dropbear import authorized_keys
from controller.render.reach import SshPath, ssh_paths
from controller.secrets import read_regular_file

KeyId = tuple[str, str]  # (type, base64 blob): what identifies an SSH public key


def _contexts(inv: Inventory) -> Iterator[NodeContext]:
    """Every planned node (an unplanned one is reported by check_plan)."""
    secrets = SecretCache(inv)
    for name, node in sorted(inv.nodes.items()):
        if name in inv.plan:
            yield NodeContext(inv, node, inv.plan[name], secrets)


def check_management_reach(inv: Inventory) -> Found:
    for ctx in _contexts(inv):
        paths = ssh_paths(ctx)
        if not any(path.usable for path in paths):
            problem = _nowhere(inv, ctx, paths)
            if problem is not None:
                yield problem
        for path in paths:
            if path.usable and path.verdict != "ACCEPT":
                yield _fenced_off(inv, ctx, path)


def _nowhere(inv: Inventory, ctx: NodeContext, paths: list[SshPath]) -> Problem | None:
    """Why the management address would be on no interface that exists."""
    node, address = ctx.node, ctx.plan.management
    lost = "after a push the controller could not reach SSH on it"
    own_address = "or give the node a `management:` address (it goes on lo)"
    if not ctx.meshed:
        return at_node(
            inv,
            node.name,
            ("mesh", "enabled"),
            f"is false, so the management address {address} (the mesh address) is on no "
            f"interface: {lost}",
            f"enable the mesh, {own_address}",
        )
    radio = node.mesh.radio
    if radio is None or radio not in node.radios:
        return None  # no mesh radio and no ports, or an unknown radio: reported already
    if node.radios[radio].disabled:
        return at_node(
            inv,
            node.name,
            ("radios", radio, "disabled"),
            f"takes down {radio}, the only way into babel's `mesh` interface (it has no "
            f"device of its own), which alone carries the management address {address}: "
            f"{lost}",
            f"enable the radio, add a wired mesh port (mesh.ports), {own_address}",
        )
    shown = ", ".join(path.interface for path in paths) or "no interface"
    return at_node(
        inv,
        node.name,
        (),
        f"the management address {address} is only on {shown}, which has no device: {lost}",
        f"add a wired mesh port (mesh.ports), {own_address}",
    )


def _fenced_off(inv: Inventory, ctx: NodeContext, path: SshPath) -> Problem:
    port = ctx.node.ssh.port
    where = (
        f"firewall zone {path.zone!r}" if path.zone else "no firewall zone (the defaults' input)"
    )
    return at_node(
        inv,
        ctx.node.name,
        ("ssh", "port"),
        f"{where} would {path.verdict} port {port} on interface {path.interface!r}, which "
        f"carries the management address {ctx.plan.management}: after a push the "
        "controller would be locked out",
        "meshkeeper should never render this — report it as a bug and do not push the node",
    )


def check_login_keys(inv: Inventory) -> Found:
    """Warn where push would install authorized_keys without its own login key."""
    keys = _KeyFiles(inv)
    for ctx in _contexts(inv):
        if not ctx.node.ssh.authorized_keys:
            continue  # check_ssh reports a node nobody could log in to
        public, key = keys.login_key(ctx.node.name)
        accepted = keys.accepted(ctx)
        # No readable key: push names the file itself; an unreadable authorized key
        # file: check_secrets reports it.
        if key is not None and accepted is not None and key not in accepted:
            yield warn_node(
                inv,
                ctx.node.name,
                ("ssh", "authorized_keys"),
                f"does not hold the controller's login key {public} ({key[0]}): after a push "
                "the controller could no longer log in",
                f"add {{file: {public}}} to ssh.authorized_keys, or point ssh.key_file at a "
                "key that is listed",
            )


class _KeyFiles:
    """Each login key read, and each authorized_keys list rendered, once per check."""

    def __init__(self, inv: Inventory) -> None:
        self._inv = inv
        self._public: dict[str | None, tuple[Path, KeyId | None]] = {}
        self._accepted: dict[tuple[object, ...], set[KeyId] | None] = {}

    def login_key(self, name: str) -> tuple[Path, KeyId | None]:
        """The .pub beside the node's login key, and the key in it (None: unreadable)."""
        key_file = self._inv.nodes[name].ssh.key_file
        if key_file not in self._public:
            private = self._inv.login_key_file(name)
            public = private.with_name(f"{private.name}.pub")
            self._public[key_file] = (public, read_public_key(public))
        return self._public[key_file]

    def accepted(self, ctx: NodeContext) -> set[KeyId] | None:
        """The keys in the node's rendered authorized_keys (None: a key file is unreadable)."""
        entries = tuple(ctx.node.ssh.authorized_keys)
        if entries not in self._accepted:
            try:
                self._accepted[entries] = key_ids(authorized_keys(ctx))
            except MeshkeeperError:  # reported by check_secrets / check_inline_keys
                self._accepted[entries] = None
        return self._accepted[entries]


def read_public_key(path: Path) -> KeyId | None:
    """The key in an OpenSSH .pub file, or None if it cannot be read as one (a FIFO
    or device beside the login key is not opened, a huge file not read whole)."""
    try:
        text = read_regular_file(path)[0].decode("utf-8")
    except (OSError, ValueError):  # FileRefused and UnicodeDecodeError are ValueErrors
        return None
    ids = key_ids(text)
    return next(iter(ids)) if len(ids) == 1 else None


def key_ids(text: str) -> set[KeyId]:
    """Every key in authorized_keys text, options (`no-pty,command="..." `) skipped."""
    ids = set()
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        for kind, blob in pairwise(words):
            if kind.startswith(KEY_TYPES):
                ids.add((kind, blob))
                break
    return ids
