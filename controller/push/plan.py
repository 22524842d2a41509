"""What a push must deliver to each node: its rendered tree, hash and SSH target."""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import tarfile
from dataclasses import dataclass

from controller.model.inventory import Inventory
from controller.push import remote
from controller.render.tree import RenderedFile
from controller.transport import SshTarget


@dataclass(frozen=True)
class NodeChange:
    node: str
    files: tuple[RenderedFile, ...]
    tree_hash: str
    target: SshTarget


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
        "files": {f.path: hashlib.sha256(f.data).hexdigest() for f in change.files},
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
        "meshkeeper/applied.json": (json.dumps(applied, sort_keys=True).encode() + b"\n", 0o644),
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
