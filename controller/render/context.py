"""What a renderer needs to know about one node, computed once."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cached_property

from controller.model.inventory import Inventory
from controller.model.plan import NodePlan
from controller.model.schema import Link, Node
from controller.model.types import EnvSecret, FileSecret
from controller.secrets import PASSWORD, SecretProblem, SecretValue, resolve, value_problem
from controller.uci import Section

Value = str | int | bool | list[str] | None

BABEL_LOCAL_PORT = 33123  # babeld's read-only local socket, on localhost only
MESH_IFNAME = "mesh0"


def section(type_: str, name: str | None = None, /, **options: Value) -> Section:
    """A UCI section; None and empty lists are left out, booleans become '1'/'0'."""
    out: dict[str, str | list[str]] = {}
    for key, value in options.items():
        if value is None or value == []:
            continue
        if isinstance(value, bool):
            out[key] = "1" if value else "0"
        elif isinstance(value, int):
            out[key] = str(value)
        else:
            out[key] = value
    return Section(type_, name, out)


def uci_name(text: str) -> str:
    """A device name such as `lan3` or `eth0.2` as a UCI section name."""
    return "".join(c if c.isalnum() and c.isascii() else "_" for c in text)


class SecretCache:
    """Resolves each secret reference once for a whole render run (or check).

    The controller's own login keys (every node's ssh.key_file) are never read
    as a secret, under any name (controller/secrets.py)."""

    def __init__(self, inv: Inventory) -> None:
        self._root = inv.root
        self._login_keys = sorted({inv.login_key_file(name) for name in inv.nodes})
        self._values: dict[EnvSecret | FileSecret, SecretValue] = {}

    def get(self, ref: EnvSecret | FileSecret) -> SecretValue:
        if ref not in self._values:
            self._values[ref] = resolve(ref, self._root, login_keys=self._login_keys)
        return self._values[ref]

    def text(self, ref: EnvSecret | FileSecret, use: str) -> str:
        """The secret's text, refused (naming `ref`, never the value) unless fit for `use`."""
        value = self.get(ref).reveal()
        problem = value_problem(value, use)
        if problem is not None:
            raise SecretProblem(ref, *problem)
        return value


@dataclass
class NodeContext:
    inv: Inventory
    node: Node
    plan: NodePlan
    secrets: SecretCache
    secret_packages: set[str] = field(default_factory=set)

    def reveal(self, ref: EnvSecret | FileSecret, package: str, use: str = PASSWORD) -> str:
        """The secret's text for `package`, whose file is then written 0600; `use` is what
        it becomes there (controller/secrets.py: value_problem), an unfit value a SecretError."""
        self.secret_packages.add(package)
        return self.secrets.text(ref, use)

    @cached_property
    def release(self) -> tuple[int, int]:
        major, minor = self.node.release.split(".")
        return int(major), int(minor)

    @property
    def dsa(self) -> bool:
        """21.02+: `config device` / `list ports`; before, `option ifname`."""
        return self.release >= (21, 2)

    @property
    def fw4(self) -> bool:
        return self.release >= (22, 3)

    @property
    def protocol(self) -> str:
        return self.node.mesh.protocol or self.inv.mesh.protocol

    @property
    def meshed(self) -> bool:
        return self.node.mesh.enabled

    @property
    def gateway(self) -> bool:
        return self.node.role == "gateway"

    @property
    def is_noc_entry(self) -> bool:
        return self.inv.noc.entry == self.node.name

    @cached_property
    def links(self) -> list[tuple[str, Link]]:
        """(neighbour name, link) for every expected link of this node, sorted."""
        return self.inv.links_by_node[self.node.name]

    @cached_property
    def mesh_ports(self) -> list[str]:
        return list(self.node.mesh.ports) if self.meshed else []

    @property
    def mesh_wifi(self) -> bool:
        return self.meshed and self.node.mesh.radio is not None

    def mesh_netmask(self) -> str:
        """babel routes /32 host addresses; batman-adv is one L2 segment: the pool's mask."""
        if self.protocol == "batman-adv":
            return str(ipaddress.IPv4Network(self.inv.addressing.mesh).netmask)
        return "255.255.255.255"

    def uplink_names(self) -> list[str]:
        return ["wan" if i == 0 else f"wan{i + 1}" for i in range(len(self.node.uplinks))]
