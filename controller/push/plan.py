"""What a push must deliver to each node: its rendered tree, hash and SSH target;
and the one test of whether a router already holds it (`differences`), which
`diff`, `push --dry-run` and `push` all use."""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import tarfile
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

from controller.errors import MeshkeeperError
from controller.model.inventory import Inventory
from controller.push import remote
from controller.render.tree import RenderedFile
from controller.transport import SshTarget

if TYPE_CHECKING:
    from controller.push.node import RouterView


@dataclass(frozen=True)
class NodeChange:
    node: str
    files: tuple[RenderedFile, ...]
    tree_hash: str
    target: SshTarget


def state_dir(inv: Inventory) -> Path:
    return inv.root.resolve().parent / ".meshkeeper"


def select(inv: Inventory, limit: tuple[str, ...]) -> list[str]:
    if not limit:
        return sorted(inv.nodes)
    chosen = sorted(n for n in inv.nodes if any(fnmatch(n, p) for p in limit))
    if not chosen:
        raise MeshkeeperError(
            f"--node/--limit {' '.join(limit)} matches no node — see `meshkeeper inventory show`"
        )
    return chosen


@dataclass(frozen=True)
class Difference:
    """One reason a push would rewrite a router."""

    kind: str  # one of DIFFERENCE_KINDS
    path: str | None = None  # the file concerned, if one


DIFFERENCE_KINDS = (
    "missing",  # a rendered file is not on the router
    "bytes",  # a rendered file's bytes differ (sha256), meaning or comments alike
    "unexpected",  # the router reports a file of ours the render does not have
    "unconfirmed",  # a push is still waiting for its confirmation (rollback armed)
    "record",  # applied.json records another tree (modes, removed files) or none
)


def differences(change: NodeChange, view: RouterView) -> list[Difference]:
    """Why a push would rewrite this router; empty when it holds exactly this render,
    byte for byte, applied and confirmed. The one test of "differs": `diff`,
    `push --dry-run` and push's own check all ask it."""
    wanted = {f.path: hashlib.sha256(f.data).hexdigest() for f in change.files}
    found: list[Difference] = []
    if view.pending:
        found.append(Difference("unconfirmed"))
    for path, digest in sorted(wanted.items()):
        have = view.sums.get(path)
        if have != digest:
            found.append(Difference("missing" if have is None else "bytes", path))
    found += [Difference("unexpected", p) for p in sorted(set(view.sums) - set(wanted))]
    if view.tree_hash != change.tree_hash:
        found.append(Difference("record"))
    return found


def tree_hash(files: tuple[RenderedFile, ...] | list[RenderedFile]) -> str:
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.mode:o}\0{hashlib.sha256(f.data).hexdigest()}\n".encode())
    return digest.hexdigest()


def target_for(inv: Inventory, node: str) -> SshTarget:
    spec = inv.nodes[node]
    return SshTarget(
        node=node,
        host=str(inv.plan[node].management),
        port=spec.ssh.port,
        user=spec.ssh.user,
        key_file=inv.login_key_file(node),
        legacy_rsa=spec.ssh.legacy_rsa,
        pinned_host_key=spec.ssh.host_key,
    )


def listen_hex(host: str, port: int) -> str:
    """`LE BE PORT` in /proc/net/tcp's hex, for apply.sh's listener check. The kernel
    prints the address as a native-endian word: byte-swapped on x86 and most ARM
    routers, as is on big-endian MIPS ones; the script accepts either."""
    packed = ipaddress.IPv4Address(host).packed
    return f"{packed[::-1].hex().upper()} {packed.hex().upper()} {port:04X}\n"


def stage_archive(
    change: NodeChange, generation: int, previously: list[str], listen: SshTarget
) -> bytes:
    """The tar stream staged in /tmp on the router: files plus meshkeeper's control files.
    `listen` is where the controller comes back after the apply (the router checks
    something listens there before it says the apply settled)."""
    paths = [f.path for f in change.files]
    removed = sorted(set(previously) - set(paths))
    applied = {
        "generation": generation,
        "hash": change.tree_hash,
        # a file written 0600 holds a secret: its sha256 would confirm a guessed key
        "files": {
            f.path: None if f.mode & 0o077 == 0 else hashlib.sha256(f.data).hexdigest()
            for f in change.files
        },
    }
    control = {
        "meshkeeper/rollback.sh": (remote.ROLLBACK_SH.encode(), 0o755),
        "meshkeeper/init.sh": (remote.INIT_SH.encode(), 0o755),
        "meshkeeper/apply.sh": (remote.APPLY_SH.encode(), 0o755),
        "meshkeeper/listen": (listen_hex(listen.host, listen.port).encode(), 0o644),
        "meshkeeper/files": ("\n".join(paths).encode() + b"\n", 0o644),
        "meshkeeper/remove": ("\n".join(removed).encode() + b"\n" if removed else b"", 0o644),
        "meshkeeper/managed": (
            "\n".join(sorted({*paths, *removed, "etc/meshkeeper/applied.json"})).encode() + b"\n",
            0o644,
        ),
        "meshkeeper/applied.json": (json.dumps(applied, sort_keys=True).encode() + b"\n", 0o600),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        entries = [(f.path, f.data, f.mode) for f in change.files]
        entries += [(name, data, mode) for name, (data, mode) in control.items()]
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def expected_checksums(archive: bytes) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        out = {}
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            if handle is not None:
                out[f"./{member.name}"] = hashlib.sha256(handle.read()).hexdigest()
        return out
