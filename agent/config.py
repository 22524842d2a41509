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
import os
import re
import stat
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from agent import contract
from agent.contract import (
    MAX_TRUSTED,
    PASSWORD_HASH,
    PASSWORD_SCHEME,
    PBKDF2_MAX_ROUNDS,
    PBKDF2_MIN_ROUNDS,
    PROBE_KINDS,
    SALT_MAX_BYTES,
    SALT_MIN_BYTES,
    TARGET_TIERS,
)
from agent.errors import ConfigError

SCHEMA_VERSION = contract.SCHEMA_VERSION  # read here by the agent's callers and tests
FIX = "fix it in the inventory and push again"
WHICH_FILE = "pass agent.json with --config"
MAX_CONFIG_BYTES = 1 << 20  # the example network's largest agent.json is under 3 kB
MAX_DOWNLOAD = 1 << 20  # a throughput probe's download, at most (its budget is small)
MAX_INTEGER_DIGITS = 18  # JSON integers longer than this are no port or interval
# What the exporter can verify: anything else would fail every scrape, not `check`.
SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
# control characters (C0, DEL, C1) and lone surrogates (JSON allows "\\ud800"; printing
# one raises): no name, path or address the agent shows in a log line holds them
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
T = TypeVar("T")


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it had more than once (json keeps the last)."""

    repeated: tuple[str, ...] = ()


class _Unusable:
    """A JSON number no field can hold (NaN, Infinity, an integer of 5000 digits): kept
    as is, so the field that holds it fails with its path instead of the whole file."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return shown(self.text)


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    result = _Object(pairs)
    if len(result) != len(pairs):
        counts = Counter(key for key, _ in pairs)
        result.repeated = tuple(key for key, n in counts.items() if n > 1)
    return result


def _integer(text: str) -> int | _Unusable:
    return int(text) if len(text.lstrip("-")) <= MAX_INTEGER_DIGITS else _Unusable(text)


def shown(text: str, limit: int = 60) -> str:
    """`text` for a one-line message: quoted, escaped, and cut if long."""
    quoted = repr(text[:limit])
    return quoted if len(text) <= limit else f"{quoted}… ({len(text)} characters)"


def _brief(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}…"


def member(where: str, key: str) -> str:
    """The path of `key` in the object at `where`: `$.listen.port`, or `$["a b"]`."""
    if SIMPLE_KEY.fullmatch(key):
        return f"{where}.{key}"
    return f"{where}[{json.dumps(key[:60])}{'…' if len(key) > 60 else ''}]"


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
    # The NOC's addresses or networks (its Prometheus, the controller): connection slots
    # are reserved for them, and other clients can never push them out.
    trusted: tuple[str, ...] = ()


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
    device: str | None = None  # the Linux device it leaves through: probes bind to it
    gateway: str | None = None  # its first hop when static; else read from the routes


@dataclass(frozen=True)
class Target:
    tier: str
    name: str
    kinds: tuple[str, ...]
    address: str | None = None
    host: str | None = None
    port: int | None = None
    isp: str | None = None
    download: str | None = None  # the path a throughput probe fetches (HTTP, port 80)


@dataclass(frozen=True)
class Gateway:
    """A gateway of the mesh, which a non-gateway probes through the mesh (the mesh tier)."""

    name: str
    address: str


@dataclass(frozen=True)
class Probes:
    interval_seconds: int = 60
    gateway: bool = True
    targets: tuple[Target, ...] = ()
    gateways: tuple[Gateway, ...] = ()  # the mesh tier: set on non-gateways
    ca_file: str | None = None  # TLS trust for the tls probe; None: the system's store
    throughput_every: int = 5  # rounds between downloads (every round while one is slow)
    download_bytes: int = 65_536


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


def source_name(path: Path | str) -> str:
    """The config's path as messages show it: as given, or escaped if it is unprintable."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def load_config(path: Path) -> AgentConfig:
    source = source_name(path)
    with _open_regular(path, source, "") as file:
        try:
            data = file.read(MAX_CONFIG_BYTES + 1)  # bounded, whatever the file claims to be
        except OSError as exc:
            raise ConfigError(source, "", f"cannot read it: {exc.strerror}") from None
    if data is None:  # a special file with nothing to read yet (procfs): not a config
        raise ConfigError(source, "", f"not a regular file — {WHICH_FILE}")
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(source, "", f"larger than 1 MiB, which no agent.json is — {WHICH_FILE}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "", f"cannot read it: {exc}") from exc
    return replace(parse_config(text, source), sha256=hashlib.sha256(data).hexdigest())


def _open_regular(path: Path | str, source: str, where: str) -> BinaryIO:
    """Opened for reading if it is a regular file. Opening never blocks (a FIFO or a
    device is refused, never waited on or read forever); symlinks are followed, and the
    check is on what was opened, so nothing can be swapped in between. `where` empty:
    `path` is the config file itself; else the field of agent.json that names it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except ValueError:  # a NUL byte: no file has that name
        what = "it" if not where else source_name(path)
        raise ConfigError(source, where, f"cannot read {what}: the path holds a NUL byte") from None
    except FileNotFoundError:
        if not where:
            raise ConfigError(
                source, "", "no such file — push the node, or pass --config"
            ) from None
        raise ConfigError(source, where, f"cannot read {path}: no such file") from None
    except OSError as exc:
        message = f"cannot read {path}: {exc.strerror}" if where else f"cannot read it: {exc}"
        raise ConfigError(source, where, message) from None
    try:
        status = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise ConfigError(source, where, f"cannot read {path}: {exc.strerror}") from None
    message = ""
    if not stat.S_ISREG(status.st_mode):
        message = f"{path} is not a regular file" if where else f"not a regular file — {WHICH_FILE}"
    elif where and status.st_size > MAX_CONFIG_BYTES:  # a certificate or key is a few kB
        message = f"{path} is larger than 1 MiB, which no certificate or key is"
    if message:
        os.close(fd)
        raise ConfigError(source, where, message)
    return os.fdopen(fd, "rb")


def check_files(config: AgentConfig, source: str) -> None:
    """The files agent.json names exist on this node and are readable regular files
    (`check` and `run`; parsing alone does not look, so a controller can parse too)."""
    tls = config.listen.tls
    if tls is None:
        return
    todo = "install it on the node or remove listen.tls"
    for name, path in (("cert", tls.cert), ("key", tls.key), ("client_ca", tls.client_ca)):
        if path is None:
            continue
        try:
            with _open_regular(path, source, f"$.listen.tls.{name}"):
                pass
        except ConfigError as exc:
            raise ConfigError(source, exc.where, f"{exc.message} — {todo}") from None


def parse_config(text: str, source: str = "agent.json") -> AgentConfig:
    try:
        data = json.loads(
            text, object_pairs_hook=_object, parse_int=_integer, parse_constant=_Unusable
        )
    except json.JSONDecodeError as exc:
        raise ConfigError(
            source, f"line {exc.lineno} column {exc.colno}", f"not JSON: {exc.msg} — {FIX}"
        ) from exc
    except RecursionError:
        raise ConfigError(source, "$", f"nested too deeply to be an agent.json — {FIX}") from None
    except ValueError as exc:  # nothing else known today; never a traceback for a file
        raise ConfigError(source, "", f"not JSON: {shown(str(exc))} — {FIX}") from None
    return _Reader(source).config(data)


class _Reader:
    """Walks the parsed JSON with the path of each value, for the error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(self.source, where, message)

    def mapping(self, value: Any, where: str, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"{what} — {FIX}")
        repeated = getattr(value, "repeated", ())
        if repeated:
            raise self.fail(member(where, repeated[0]), f"appears more than once — {FIX}")
        return value

    def obj(self, value: Any, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
        data = self.mapping(value, where, "must be an object")
        unknown = sorted(set(data) - required - optional)
        if unknown:
            known = ", ".join(sorted(required | optional))
            raise self.fail(
                member(where, unknown[0]),
                f"unknown key (known here: {known}) — this agent may be older than the "
                "controller that rendered the file: upgrade the agent",
            )
        missing = sorted(required - set(data))
        if missing:
            raise self.fail(f"{where}.{missing[0]}", f"is required — {FIX}")
        return data

    def typed(self, value: Any, where: str, kind: type[T], what: str) -> T:
        # bool is an int in Python; JSON true is never a port
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(where, f"must be {what} — {FIX}")
        return value

    def text(self, value: Any, where: str) -> str:
        result = self.typed(value, where, str, "a string")
        if not result or UNPRINTABLE.search(result):
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
        self.ip(value, where)
        return str(value)

    def ip(self, value: Any, where: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        text = self.text(value, where)
        try:
            return ipaddress.ip_address(text)
        except ValueError:
            raise self.fail(where, f"{shown(text)} is not an IP address — {FIX}") from None

    def listen_address(self, value: Any, where: str) -> str:
        """One interface's address: the README promises 0.0.0.0 is refused."""
        ip = self.ip(value, where)
        mapped = getattr(ip, "ipv4_mapped", None)
        if any(
            a is not None and (a.is_unspecified or a.is_multicast or a == _BROADCAST)
            for a in (ip, mapped)
        ):
            raise self.fail(
                where,
                f"{ip} would listen on every interface (or none): the agent listens on the "
                f"node's mesh address only — {FIX}",
            )
        return str(value)

    def trusted(self, value: Any, where: str) -> tuple[str, ...]:
        items = self.items(value, where)
        if len(items) > MAX_TRUSTED:
            raise self.fail(where, f"lists at most {MAX_TRUSTED} addresses or networks — {FIX}")
        return tuple(self.network(item, at) for item, at in items)

    def network(self, value: Any, where: str) -> str:
        text = self.text(value, where)
        try:
            net = ipaddress.ip_network(text)
        except ValueError:
            raise self.fail(
                where,
                f"{shown(text)} is not an address or network (10.31.255.250, 10.31.255.0/24) "
                f"— {FIX}",
            ) from None
        if net.prefixlen == 0 or (net.num_addresses == 1 and net.network_address.is_unspecified):
            too_many = "every address"
        elif net.prefixlen < (8 if net.version == 4 else 32):
            too_many = "far too many addresses"
        else:
            return text
        raise self.fail(where, f"{net} trusts {too_many}: list the NOC's addresses instead — {FIX}")

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
                f"is {shown(version) if isinstance(version, str) else _brief(version)}; this "
                f"agent reads version {SCHEMA_VERSION} — install the "
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
        data = self.obj(value, where, {"address", "port"}, {"tls", "basic_auth", "trusted"})
        listen = Listen(
            address=self.listen_address(data["address"], f"{where}.address"),
            port=self.number(data["port"], f"{where}.port", 1, 65535),
            tls=self.opt(data, "tls", where, self.tls),
            basic_auth=self.opt(data, "basic_auth", where, self.basic_auth),
            trusted=self.opt(data, "trusted", where, self.trusted) or (),
        )
        if listen.basic_auth is not None and listen.tls is None:
            raise self.fail(
                f"{where}.basic_auth",
                "needs listen.tls: without it the scrape password crosses the mesh's radio "
                f"links in the clear — {FIX}",
            )
        return listen

    def tls(self, value: Any, where: str) -> Tls:
        data = self.obj(value, where, {"cert", "key"}, {"client_ca"})
        return Tls(
            cert=self.text(data["cert"], f"{where}.cert"),
            key=self.text(data["key"], f"{where}.key"),
            client_ca=self.opt(data, "client_ca", where, self.text),
        )

    def basic_auth(self, value: Any, where: str) -> BasicAuth:
        data = self.obj(value, where, {"username", "password_hash"}, set())
        at = f"{where}.password_hash"
        hashed = self.text(data["password_hash"], at)
        if not PASSWORD_HASH.fullmatch(hashed):
            raise self.fail(
                at,
                f"must read {PASSWORD_SCHEME}$ITERATIONS$SALT$HASH (the controller writes it) "
                f"— {FIX}",
            )
        _, rounds, salt, _ = hashed.split("$")
        # compare lengths first: int() of 5000 digits is itself an error
        if len(rounds) > 9 or not PBKDF2_MIN_ROUNDS <= int(rounds) <= PBKDF2_MAX_ROUNDS:
            raise self.fail(
                at,
                f"PBKDF2 iterations must be from {PBKDF2_MIN_ROUNDS} to {PBKDF2_MAX_ROUNDS} "
                f"— {FIX}",
            )
        if not SALT_MIN_BYTES <= len(salt) // 2 <= SALT_MAX_BYTES:
            raise self.fail(
                at, f"the salt must be {SALT_MIN_BYTES} to {SALT_MAX_BYTES} bytes — {FIX}"
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
                where, f"{shown(text)} is not [IPv6]:PORT, IPv4:PORT or a socket path — {FIX}"
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
        data = self.obj(value, where, {"interface", "isp", "proto"}, {"device", "gateway"})
        return Uplink(
            interface=self.text(data["interface"], f"{where}.interface"),
            isp=self.text(data["isp"], f"{where}.isp"),
            proto=self.text(data["proto"], f"{where}.proto"),
            device=self.opt(data, "device", where, self.text),
            gateway=self.opt(data, "gateway", where, self.address),
        )

    def probes(self, value: Any, where: str) -> Probes:
        data = self.obj(
            value,
            where,
            {"interval_seconds"},
            {
                "gateway",
                "gateways",
                "ca_file",
                "throughput_every",
                "download_bytes",
                *TARGET_TIERS,
            },
        )
        gateway = data.get("gateway", True)
        return Probes(
            interval_seconds=self.number(
                data["interval_seconds"], f"{where}.interval_seconds", 10, 3600
            ),
            gateway=self.typed(gateway, f"{where}.gateway", bool, "true or false"),
            targets=tuple(
                self.target(tier, v, w)
                for tier in TARGET_TIERS
                for v, w in self.items(data.get(tier, []), f"{where}.{tier}")
            ),
            gateways=tuple(
                self.gateway(v, w)
                for v, w in self.items(data.get("gateways", []), f"{where}.gateways")
            ),
            ca_file=self.opt(data, "ca_file", where, self.text),
            throughput_every=self.opt(
                data, "throughput_every", where, lambda v, w: self.number(v, w, 1, 1000)
            )
            or 5,
            download_bytes=self.opt(
                data, "download_bytes", where, lambda v, w: self.number(v, w, 1024, MAX_DOWNLOAD)
            )
            or 65_536,
        )

    def gateway(self, value: Any, where: str) -> Gateway:
        data = self.obj(value, where, {"name", "address"}, set())
        return Gateway(
            name=self.text(data["name"], f"{where}.name"),
            address=self.address(data["address"], f"{where}.address"),
        )

    def target(self, tier: str, value: Any, where: str) -> Target:
        data = self.obj(
            value, where, {"name", "kinds"}, {"address", "host", "port", "isp", "download"}
        )
        kinds = tuple(self.text(v, w) for v, w in self.items(data["kinds"], f"{where}.kinds"))
        if not kinds:
            raise self.fail(f"{where}.kinds", f"must list at least one probe kind — {FIX}")
        for index, kind in enumerate(kinds):
            if kind not in PROBE_KINDS:
                raise self.fail(
                    f"{where}.kinds[{index}]",
                    f"{shown(kind)} is no probe kind (known: {', '.join(PROBE_KINDS)}) — this "
                    "agent may be older than the controller that rendered the file: upgrade it",
                )
        target = Target(
            tier=tier,
            name=self.text(data["name"], f"{where}.name"),
            kinds=kinds,
            address=self.opt(data, "address", where, self.address),
            host=self.opt(data, "host", where, self.text),
            port=self.opt(data, "port", where, lambda v, w: self.number(v, w, 1, 65535)),
            isp=self.opt(data, "isp", where, self.text),
            download=self.opt(data, "download", where, self.download),
        )
        if target.address is None and target.host is None:
            raise self.fail(where, f"needs an address or a host — {FIX}")
        if "throughput" in kinds and target.download is None:
            raise self.fail(f"{where}.download", f"is required with kind throughput — {FIX}")
        return target

    def download(self, value: Any, where: str) -> str:
        text = self.text(value, where)
        if not text.startswith("/") or not text.isascii() or " " in text or len(text) > 200:
            raise self.fail(where, f"must be a URL path such as /bytes/65536 — {FIX}")
        return text

    def collectors(self, value: Any, where: str) -> dict[str, float]:
        data = self.mapping(value, where, "must map collector names to intervals in seconds")
        # Which names exist is checked against agent.collectors.ALL by the caller.
        return {
            self.text(name, member(where, name)): float(
                self.number(seconds, member(where, name), 1, 3600)
            )
            for name, seconds in data.items()
        }


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
