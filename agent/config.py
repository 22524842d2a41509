"""agent.json, the contract between controller and agent: read and validated here.

The controller renders it (controller/render/agent_config.py); the agent checks
it again with the stdlib only (no pydantic on routers). Unknown keys are
errors, as in blackbox_exporter: a typo must not silently turn a feature off.
Every error names the file and the field (`$.listen.port`) and says what to do.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from agent.errors import ConfigError

SCHEMA_VERSION = 1
FIX = "fix it in the inventory and push again"
# What the exporter can verify: anything else would fail every scrape, not `check`.
PASSWORD_HASH = re.compile(r"pbkdf2_sha256\$[1-9][0-9]*\$(?:[0-9a-f]{2})+\$[0-9a-f]{64}")
T = TypeVar("T")


@dataclass(frozen=True)
class Tls:
    cert: str
    key: str
    client_ca: str | None = None  # set: clients must present a certificate it signed


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password_hash: str  # pbkdf2_sha256$ITERATIONS$SALT_HEX$HASH_HEX


@dataclass(frozen=True)
class Listen:
    address: str
    port: int
    tls: Tls | None = None
    basic_auth: BasicAuth | None = None


@dataclass(frozen=True)
class Mesh:
    protocol: str | None  # "babel", "batman-adv" or None (not meshed)
    devices: tuple[str, ...] = ()
    babel_local: str | None = None  # "[::1]:33123", babeld's read-only socket


@dataclass(frozen=True)
class Neighbour:
    name: str
    address: str
    medium: str


@dataclass(frozen=True)
class Uplink:
    interface: str
    isp: str
    proto: str


@dataclass(frozen=True)
class Target:
    tier: str
    name: str
    kinds: tuple[str, ...]
    address: str | None = None
    host: str | None = None
    port: int | None = None
    isp: str | None = None


@dataclass(frozen=True)
class Probes:
    interval_seconds: int = 60
    gateway: bool = True
    targets: tuple[Target, ...] = ()


@dataclass(frozen=True)
class AgentConfig:
    node: str
    network: str
    role: str
    release: str
    model: str
    listen: Listen
    mesh: Mesh = field(default_factory=lambda: Mesh(None))
    neighbours: tuple[Neighbour, ...] = ()
    uplinks: tuple[Uplink, ...] = ()
    probes: Probes = field(default_factory=Probes)
    collectors: Mapping[str, float] = field(default_factory=dict)  # empty: the defaults
    sha256: str = ""  # of the file as read: the exporter shows it, push compares it


def load_config(path: Path) -> AgentConfig:
    source = str(path)
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "", "no such file — push the node, or pass --config") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", f"cannot read it: {exc}") from exc
    return replace(parse_config(text, source), sha256=hashlib.sha256(data).hexdigest())


def parse_config(text: str, source: str = "agent.json") -> AgentConfig:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            source, f"line {exc.lineno} column {exc.colno}", f"not JSON: {exc.msg} — {FIX}"
        ) from exc
    return _Reader(source).config(data)


class _Reader:
    """Walks the parsed JSON with the path of each value, for the error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(self.source, where, message)

    def obj(self, value: Any, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object — {FIX}")
        unknown = sorted(set(value) - required - optional)
        if unknown:
            known = ", ".join(sorted(required | optional))
            raise self.fail(
                f"{where}.{unknown[0]}",
                f"unknown key (known here: {known}) — this agent may be older than the "
                "controller that rendered the file: upgrade the agent",
            )
        missing = sorted(required - set(value))
        if missing:
            raise self.fail(f"{where}.{missing[0]}", f"is required — {FIX}")
        return value

    def typed(self, value: Any, where: str, kind: type[T], what: str) -> T:
        # bool is an int in Python; JSON true is never a port
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(where, f"must be {what} — {FIX}")
        return value

    def text(self, value: Any, where: str) -> str:
        result = self.typed(value, where, str, "a string")
        if not result or any(ord(c) < 32 for c in result):
            raise self.fail(where, f"must be a non-empty string without control characters — {FIX}")
        return result

    def opt(
        self, data: dict[str, Any], key: str, where: str, read: Callable[[Any, str], T]
    ) -> T | None:
        value = data.get(key)
        return None if value is None else read(value, f"{where}.{key}")

    def number(self, value: Any, where: str, low: int, high: int) -> int:
        result = self.typed(value, where, int, f"an integer from {low} to {high}")
        if not low <= result <= high:
            raise self.fail(where, f"must be an integer from {low} to {high} — {FIX}")
        return result

    def address(self, value: Any, where: str) -> str:
        text = self.text(value, where)
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise self.fail(where, f"{text!r} is not an IP address — {FIX}") from None
        return text

    def items(self, value: Any, where: str) -> list[tuple[Any, str]]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list — {FIX}")
        return [(item, f"{where}[{i}]") for i, item in enumerate(value)]

    def config(self, value: Any) -> AgentConfig:
        data = self.obj(
            value,
            "$",
            {"version", "node", "network", "role", "release", "model", "listen"},
            {"mesh", "neighbours", "uplinks", "probes", "collectors"},
        )
        version = data["version"]
        if isinstance(version, bool) or version != SCHEMA_VERSION:  # JSON true == 1 in Python
            raise self.fail(
                "$.version",
                f"is {version!r}; this agent reads version {SCHEMA_VERSION} — install the "
                "agent that matches the controller",
            )
        return AgentConfig(
            node=self.text(data["node"], "$.node"),
            network=self.text(data["network"], "$.network"),
            role=self.text(data["role"], "$.role"),
            release=self.text(data["release"], "$.release"),
            model=self.text(data["model"], "$.model"),
            listen=self.listen(data["listen"], "$.listen"),
            mesh=self.opt(data, "mesh", "$", self.mesh) or Mesh(None),
            neighbours=tuple(
                self.neighbour(v, w)
                for v, w in self.items(data.get("neighbours", []), "$.neighbours")
            ),
            uplinks=tuple(
                self.uplink(v, w) for v, w in self.items(data.get("uplinks", []), "$.uplinks")
            ),
            probes=self.opt(data, "probes", "$", self.probes) or Probes(),
            collectors=self.opt(data, "collectors", "$", self.collectors) or {},
        )

    def listen(self, value: Any, where: str) -> Listen:
        data = self.obj(value, where, {"address", "port"}, {"tls", "basic_auth"})
        return Listen(
            address=self.address(data["address"], f"{where}.address"),
            port=self.number(data["port"], f"{where}.port", 1, 65535),
            tls=self.opt(data, "tls", where, self.tls),
            basic_auth=self.opt(data, "basic_auth", where, self.basic_auth),
        )

    def tls(self, value: Any, where: str) -> Tls:
        data = self.obj(value, where, {"cert", "key"}, {"client_ca"})
        return Tls(
            cert=self.text(data["cert"], f"{where}.cert"),
            key=self.text(data["key"], f"{where}.key"),
            client_ca=self.opt(data, "client_ca", where, self.text),
        )

    def basic_auth(self, value: Any, where: str) -> BasicAuth:
        data = self.obj(value, where, {"username", "password_hash"}, set())
        hashed = self.text(data["password_hash"], f"{where}.password_hash")
        if not PASSWORD_HASH.fullmatch(hashed):
            raise self.fail(
                f"{where}.password_hash",
                f"must read pbkdf2_sha256$ITERATIONS$SALT$HASH (the controller writes it) — {FIX}",
            )
        return BasicAuth(self.text(data["username"], f"{where}.username"), hashed)

    def mesh(self, value: Any, where: str) -> Mesh:
        data = self.obj(value, where, {"protocol"}, {"devices", "babel_local"})
        protocol = data["protocol"]
        if protocol not in (None, "babel", "batman-adv"):
            raise self.fail(f"{where}.protocol", f"must be babel, batman-adv or null — {FIX}")
        return Mesh(
            protocol=protocol,
            devices=tuple(
                self.text(v, w) for v, w in self.items(data.get("devices", []), f"{where}.devices")
            ),
            babel_local=self.opt(data, "babel_local", where, self.babel_local),
        )

    def babel_local(self, value: Any, where: str) -> str:
        """babeld's local socket: `[IPv6]:PORT`, `IPv4:PORT` or a unix socket path."""
        text = self.text(value, where)
        if text.startswith("/"):
            return text
        host, _, port = text.rpartition(":")
        bracketed = host.startswith("[") and host.endswith("]")
        try:
            ipaddress.ip_address(host[1:-1] if bracketed else host)
            valid = port.isdigit() and 0 < int(port) < 65536 and (bracketed or ":" not in host)
        except ValueError:
            valid = False
        if not valid:
            raise self.fail(
                where, f"{text!r} is not [IPv6]:PORT, IPv4:PORT or a socket path — {FIX}"
            )
        return text

    def neighbour(self, value: Any, where: str) -> Neighbour:
        data = self.obj(value, where, {"name", "address", "medium"}, set())
        return Neighbour(
            name=self.text(data["name"], f"{where}.name"),
            address=self.address(data["address"], f"{where}.address"),
            medium=self.text(data["medium"], f"{where}.medium"),
        )

    def uplink(self, value: Any, where: str) -> Uplink:
        data = self.obj(value, where, {"interface", "isp", "proto"}, set())
        return Uplink(*(self.text(data[k], f"{where}.{k}") for k in ("interface", "isp", "proto")))

    def probes(self, value: Any, where: str) -> Probes:
        tiers = ("isp", "domestic", "international", "platforms")
        data = self.obj(value, where, {"interval_seconds"}, {"gateway", *tiers})
        gateway = data.get("gateway", True)
        return Probes(
            interval_seconds=self.number(
                data["interval_seconds"], f"{where}.interval_seconds", 10, 3600
            ),
            gateway=self.typed(gateway, f"{where}.gateway", bool, "true or false"),
            targets=tuple(
                self.target(tier, v, w)
                for tier in tiers
                for v, w in self.items(data.get(tier, []), f"{where}.{tier}")
            ),
        )

    def target(self, tier: str, value: Any, where: str) -> Target:
        data = self.obj(value, where, {"name", "kinds"}, {"address", "host", "port", "isp"})
        kinds = tuple(self.text(v, w) for v, w in self.items(data["kinds"], f"{where}.kinds"))
        if not kinds:
            raise self.fail(f"{where}.kinds", f"must list at least one probe kind — {FIX}")
        target = Target(
            tier=tier,
            name=self.text(data["name"], f"{where}.name"),
            kinds=kinds,
            address=self.opt(data, "address", where, self.address),
            host=self.opt(data, "host", where, self.text),
            port=self.opt(data, "port", where, lambda v, w: self.number(v, w, 1, 65535)),
            isp=self.opt(data, "isp", where, self.text),
        )
        if target.address is None and target.host is None:
            raise self.fail(where, f"needs an address or a host — {FIX}")
        return target

    def collectors(self, value: Any, where: str) -> dict[str, float]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must map collector names to intervals in seconds — {FIX}")
        # Which names exist is checked against agent.collectors.ALL by the caller.
        return {
            self.text(name, where): float(self.number(seconds, f"{where}.{name}", 1, 3600))
            for name, seconds in value.items()
        }
