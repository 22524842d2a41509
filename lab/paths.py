"""Where the lab keeps its files: beside the inventory, in .meshkeeper/lab/."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabPaths:
    root: Path  # <inventory>/../.meshkeeper/lab

    @classmethod
    def for_inventory(cls, inventory_root: Path) -> LabPaths:
        return cls(inventory_root.resolve().parent / ".meshkeeper" / "lab")

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def bin(self) -> Path:
        """Bound over /usr/local/sbin inside every router: the apply shim's commands."""
        return self.root / "bin"

    @property
    def controller_key(self) -> Path:
        return self.root / "controller_ed25519"

    def make_controller_keys(self) -> list[Path]:
        """The keys the example network logs in with (ed25519, and RSA for its 19.07
        router), made when missing; returns the keys it made."""
        self.root.mkdir(parents=True, exist_ok=True)
        made = []
        for key, kind in (
            (self.controller_key, ["-t", "ed25519"]),
            (self.root / "controller_rsa", ["-t", "rsa", "-b", "2048"]),
        ):
            if not key.exists():
                subprocess.run(
                    ["ssh-keygen", "-q", *kind, "-N", "", "-C", "meshkeeper-lab", "-f", str(key)],
                    check=True,
                    capture_output=True,
                )
                made.append(key)
        return made

    def node(self, name: str) -> NodePaths:
        return NodePaths(self.root / "nodes" / name)

    def inside(self, path: Path) -> Path:
        """Where `path` (under the lab's directory) is seen from inside a router."""
        from lab.host import ROUTER_VIEW

        return ROUTER_VIEW / path.relative_to(self.root)


@dataclass(frozen=True)
class NodePaths:
    root: Path

    @property
    def upper(self) -> Path:
        """The router's own /etc: an overlay's upper directory over the host's /etc."""
        return self.root / "etc"

    @property
    def work(self) -> Path:
        return self.root / "overlay-work"

    @property
    def host_key(self) -> Path:
        return self.root / "ssh_host_ed25519_key"

    def host_key_for(self, legacy_rsa: bool) -> Path:
        return self.root / "ssh_host_rsa_key" if legacy_rsa else self.host_key

    @property
    def sshd_config(self) -> Path:
        return self.root / "sshd_config"

    @property
    def log(self) -> Path:
        return self.root / "log"
