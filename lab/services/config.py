"""The services config: one JSON file, parsed into frozen dataclasses, strictly.

Every key is optional unless marked *required*; an unknown key anywhere is an
error that names its path (`dns[0].tamper["chat.test"].mode`) and the fix.
Names are DNS names, compared case-insensitively, a trailing dot ignored. A
rule for a name (`tamper`, `block`, `names`) also covers every name under it.
Relative `cert`/`key` paths are relative to the config file.

    {
      "max_concurrent": 32,              # requests served at once, per listener
      "dns": [{                          # an authoritative server standing in for a resolver
        "listen": "198.18.0.53",         # required: IPv4 or IPv6 address
        "port": 53,
        "tcp": true,                     # also serve DNS over TCP on the same port
        "ttl": 60,
        "zones": ["test"],               # required: names at or under these are answered
                                         # (NXDOMAIN when unknown); others get REFUSED.
                                         # "." is every name.
        "records": {"www.example.test": "198.18.1.10",          # A (IPv4) and AAAA (IPv6)
                    "cdn.example.test": ["198.18.1.11", "2001:db8::11"]},
        "txt": {"example.test": "v=lab"},                        # TXT: a string or a list
        "tamper": {                      # what a fault makes this resolver say instead
          "chat.test": {"mode": "lie", "address": "198.18.66.6"},
          "video.test": "nxdomain"       # a bare mode when it takes no address
        }
      }],
      "dns_injector": [{                 # answers queries sent to an address that runs no
        "listen": "198.18.0.99",         # resolver: any such answer is injected
        "port": 53,
        "address": "198.18.66.6",        # required: the forged A/AAAA answer
        "names": ["chat.test"],          # only these (and names under them); [] = every name;
        "ttl": 60                        # other queries get no answer, as from a censor
      }],
      "http": [{
        "listen": "198.18.1.10", "port": 80,
        "sites": {"www.example.test": "body"},   # GET/HEAD: the body for the Host, else 404
        "block": {"chat.test": "blockpage"},     # by Host: "blockpage" (451) or "reset" (TCP RST)
        "blockpage": "text of the block page",
        "bulk_max_bytes": 0              # > 0: GET /bytes/N answers N bytes (N at most this)
      }],
      "tls": [{                          # HTTPS: as "http", behind TLS
        "listen": "198.18.1.10", "port": 443,
        "certificates": [                # required: chosen by SNI; the first is the default
          {"names": ["www.example.test", "*.example.test"], "cert": "www.crt", "key": "www.key"}
        ],
        "sites": {"www.example.test": "body"},
        "block": {"chat.test": "reset"}, # by SNI, before the handshake: "reset" (TCP RST)
        "bulk_max_bytes": 0
      }],
      "tcp_echo": [{"listen": "198.18.1.10", "port": 7}]
    }

Tamper modes: `lie` (answer `address`, required), `bogon` (answer `address`,
default 127.0.0.1, which must be a bogon), `nxdomain`, `servfail`, `drop` (no
answer), `inject` (UDP: a forged answer with `address` first, the genuine one
just after, as an on-path injector racing the resolver; TCP: the forged one).
A forged address answers A queries when IPv4 and AAAA queries when IPv6; the
other type gets an empty answer.

Each listener is a (transport, address, port) that must be unique: DNS uses
UDP (and TCP), an injector UDP, http/tls/tcp_echo TCP.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple, TypeAlias, TypeVar, get_args

from lab.services.errors import ConfigError

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
TamperMode = Literal["lie", "bogon", "nxdomain", "servfail", "drop", "inject"]
HttpBlock = Literal["blockpage", "reset"]
TlsBlock = Literal["reset"]

TAMPER_MODES: tuple[TamperMode, ...] = get_args(TamperMode)
HTTP_BLOCKS: tuple[HttpBlock, ...] = get_args(HttpBlock)
TLS_BLOCKS: tuple[TlsBlock, ...] = get_args(TlsBlock)
_Choice = TypeVar("_Choice", bound=str)
_ADDRESS_MODES = frozenset({"lie", "bogon", "inject"})
DEFAULT_BOGON = ipaddress.IPv4Address("127.0.0.1")
DEFAULT_BLOCKPAGE = "This site is blocked by order of the authorities (meshkeeper lab).\n"

# What OONI counts as a bogon answer; 198.18.0.0/15 is the lab's internet, so not here.
BOGONS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fc00::/7", "fe80::/10",
    )
)  # fmt: skip

LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


@dataclass(frozen=True)
class TamperRule:
    mode: TamperMode
    address: IPAddress | None = None


@dataclass(frozen=True)
class DnsService:
    listen: IPAddress
    zones: tuple[str, ...]
    port: int = 53
    tcp: bool = True
    ttl: int = 60
    records: Mapping[str, tuple[IPAddress, ...]] = field(default_factory=dict)
    txt: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tamper: Mapping[str, TamperRule] = field(default_factory=dict)


@dataclass(frozen=True)
class DnsInjector:
    listen: IPAddress
    address: IPAddress
    port: int = 53
    names: tuple[str, ...] = ()
    ttl: int = 60


@dataclass(frozen=True)
class Certificate:
    names: tuple[str, ...]
    cert: Path
    key: Path


@dataclass(frozen=True)
class HttpService:
    listen: IPAddress
    port: int = 80
    sites: Mapping[str, str] = field(default_factory=dict)
    block: Mapping[str, HttpBlock] = field(default_factory=dict)
    blockpage: str = DEFAULT_BLOCKPAGE
    bulk_max_bytes: int = 0


@dataclass(frozen=True)
class TlsService:
    listen: IPAddress
    certificates: tuple[Certificate, ...]
    port: int = 443
    sites: Mapping[str, str] = field(default_factory=dict)
    block: Mapping[str, TlsBlock] = field(default_factory=dict)
    bulk_max_bytes: int = 0


@dataclass(frozen=True)
class TcpEchoService:
    listen: IPAddress
    port: int = 7


@dataclass(frozen=True)
class ServicesConfig:
    dns: tuple[DnsService, ...] = ()
    dns_injector: tuple[DnsInjector, ...] = ()
    http: tuple[HttpService, ...] = ()
    tls: tuple[TlsService, ...] = ()
    tcp_echo: tuple[TcpEchoService, ...] = ()
    max_concurrent: int = 32


def load(path: Path) -> ServicesConfig:
    """Read and validate the config file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{path}: cannot read the config ({reason})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg}) — fix the syntax"
        ) from None
    return parse(data, base=path.parent)


def parse(data: object, base: Path = Path()) -> ServicesConfig:
    """Validate decoded JSON `data`; relative certificate paths are resolved from `base`."""
    top = _object(
        data, "config", ("dns", "dns_injector", "http", "tls", "tcp_echo", "max_concurrent")
    )
    config = ServicesConfig(
        dns=tuple(_dns(v, w) for v, w in _items(top, "dns", "")),
        dns_injector=tuple(_injector(v, w) for v, w in _items(top, "dns_injector", "")),
        http=tuple(_http(v, w) for v, w in _items(top, "http", "")),
        tls=tuple(_tls(v, w, base) for v, w in _items(top, "tls", "")),
        tcp_echo=tuple(_echo(v, w) for v, w in _items(top, "tcp_echo", "")),
        max_concurrent=_int(top.get("max_concurrent", 32), "max_concurrent", 1, 1024),
    )
    _check_unique_listeners(config)
    return config


class Socket(NamedTuple):
    """One socket a config opens: which entry it serves, and where."""

    kind: str  # dns, dns_injector, http, tls, tcp_echo
    entry: int  # its position in its list
    transport: str  # udp or tcp
    address: IPAddress
    port: int

    @property
    def where(self) -> str:
        return f"{self.kind}[{self.entry}]"

    @property
    def key(self) -> tuple[str, IPAddress, int]:
        return (self.transport, self.address, self.port)


def sockets(config: ServicesConfig) -> list[Socket]:
    """Every socket `config` opens: a dns entry's UDP (and TCP), one for each other entry."""
    found: list[Socket] = []
    for i, dns in enumerate(config.dns):
        found.append(Socket("dns", i, "udp", dns.listen, dns.port))
        if dns.tcp:
            found.append(Socket("dns", i, "tcp", dns.listen, dns.port))
    for i, inj in enumerate(config.dns_injector):
        found.append(Socket("dns_injector", i, "udp", inj.listen, inj.port))
    tcp: list[tuple[str, tuple[HttpService | TlsService | TcpEchoService, ...]]] = [
        ("http", config.http),
        ("tls", config.tls),
        ("tcp_echo", config.tcp_echo),
    ]
    for kind, services in tcp:
        found.extend(Socket(kind, i, "tcp", svc.listen, svc.port) for i, svc in enumerate(services))
    return found


def normalize_name(text: str) -> str:
    """`text` as the config and the servers compare names: lower case, no trailing dot."""
    name = text.lower()
    return name[:-1] if name.endswith(".") and name != "." else name


def covers(rule_name: str, name: str) -> bool:
    """Whether a rule for `rule_name` applies to `name` (the name itself or under it)."""
    return rule_name in (".", name) or name.endswith("." + rule_name)


def most_specific(rules: Mapping[str, object], name: str) -> str | None:
    """The key of `rules` that covers `name` with the most labels, if any."""
    matches = [rule for rule in rules if covers(rule, name)]
    return max(matches, key=lambda r: (r != ".", r.count("."), len(r)), default=None)


def is_bogon(address: IPAddress) -> bool:
    return any(address.version == net.version and address in net for net in BOGONS)


# --- the parts -----------------------------------------------------------------------


def _dns(value: object, where: str) -> DnsService:
    keys = ("listen", "port", "tcp", "ttl", "zones", "records", "txt", "tamper")
    obj = _object(value, where, keys, required=("listen", "zones"))
    zones = tuple(_name(z, w, root_ok=True) for z, w in _items(obj, "zones", where))
    if not zones:
        raise ConfigError(f"{where}.zones: empty — list the zones this server answers for")
    records = {
        _name(n, f"{where}.records", zone_of=zones): _addresses(v, f"{where}.records[{n!r}]")
        for n, v in _entries(obj, "records", where)
    }
    txt = {
        _name(n, f"{where}.txt", zone_of=zones): _texts(v, f"{where}.txt[{n!r}]")
        for n, v in _entries(obj, "txt", where)
    }
    tamper = {
        _name(n, f"{where}.tamper", root_ok=True): _tamper(v, f"{where}.tamper[{n!r}]")
        for n, v in _entries(obj, "tamper", where)
    }
    return DnsService(
        listen=_address(obj["listen"], f"{where}.listen"),
        port=_port(obj, where, 53),
        tcp=_bool(obj.get("tcp", True), f"{where}.tcp"),
        ttl=_int(obj.get("ttl", 60), f"{where}.ttl", 0, 604800),
        zones=zones,
        records=records,
        txt=txt,
        tamper=tamper,
    )


def _tamper(value: object, where: str) -> TamperRule:
    if isinstance(value, str):
        value = {"mode": value}
    obj = _object(value, where, ("mode", "address"), required=("mode",))
    mode = _choice(obj["mode"], f"{where}.mode", TAMPER_MODES)
    if "address" in obj and mode not in _ADDRESS_MODES:
        raise ConfigError(f"{where}.address: mode {mode!r} takes no address — remove it")
    if "address" not in obj and mode in ("lie", "inject"):
        raise ConfigError(
            f"{where}: mode {mode!r} needs an address — write "
            f'{{"mode": "{mode}", "address": "198.18.66.6"}}'
        )
    address = _address(obj["address"], f"{where}.address") if "address" in obj else None
    if mode == "bogon":
        address = address or DEFAULT_BOGON
        if not is_bogon(address):
            raise ConfigError(
                f"{where}.address: {address} is not a bogon — use a private, loopback or "
                "reserved address such as 127.0.0.1 or 10.10.34.35"
            )
    return TamperRule(mode=mode, address=address)


def _injector(value: object, where: str) -> DnsInjector:
    obj = _object(
        value, where, ("listen", "port", "address", "names", "ttl"), ("listen", "address")
    )
    return DnsInjector(
        listen=_address(obj["listen"], f"{where}.listen"),
        port=_port(obj, where, 53),
        address=_address(obj["address"], f"{where}.address"),
        names=tuple(_name(n, w, root_ok=True) for n, w in _items(obj, "names", where)),
        ttl=_int(obj.get("ttl", 60), f"{where}.ttl", 0, 604800),
    )


def _http(value: object, where: str) -> HttpService:
    keys = ("listen", "port", "sites", "block", "blockpage", "bulk_max_bytes")
    obj = _object(value, where, keys, required=("listen",))
    return HttpService(
        listen=_address(obj["listen"], f"{where}.listen"),
        port=_port(obj, where, 80),
        sites=_sites(obj, where),
        block={
            _name(n, f"{where}.block", root_ok=True): _choice(
                v, f"{where}.block[{n!r}]", HTTP_BLOCKS
            )
            for n, v in _entries(obj, "block", where)
        },
        blockpage=_str(obj.get("blockpage", DEFAULT_BLOCKPAGE), f"{where}.blockpage"),
        bulk_max_bytes=_bulk(obj, where),
    )


def _tls(value: object, where: str, base: Path) -> TlsService:
    keys = ("listen", "port", "certificates", "sites", "block", "bulk_max_bytes")
    obj = _object(value, where, keys, required=("listen", "certificates"))
    certificates = tuple(_certificate(v, w, base) for v, w in _items(obj, "certificates", where))
    if not certificates:
        raise ConfigError(f"{where}.certificates: empty — give at least one (the default)")
    return TlsService(
        listen=_address(obj["listen"], f"{where}.listen"),
        port=_port(obj, where, 443),
        certificates=certificates,
        sites=_sites(obj, where),
        block={
            _name(n, f"{where}.block", root_ok=True): _choice(
                v, f"{where}.block[{n!r}]", TLS_BLOCKS
            )
            for n, v in _entries(obj, "block", where)
        },
        bulk_max_bytes=_bulk(obj, where),
    )


def _certificate(value: object, where: str, base: Path) -> Certificate:
    obj = _object(value, where, ("names", "cert", "key"), required=("names", "cert", "key"))
    names = tuple(_name(n, w, wildcard_ok=True) for n, w in _items(obj, "names", where))
    if not names:
        raise ConfigError(f"{where}.names: empty — list the names this certificate is for")
    return Certificate(
        names=names,
        cert=base / _str(obj["cert"], f"{where}.cert"),
        key=base / _str(obj["key"], f"{where}.key"),
    )


def _echo(value: object, where: str) -> TcpEchoService:
    obj = _object(value, where, ("listen", "port"), required=("listen",))
    return TcpEchoService(
        listen=_address(obj["listen"], f"{where}.listen"), port=_port(obj, where, 7)
    )


def _sites(obj: Mapping[str, object], where: str) -> dict[str, str]:
    return {
        _name(n, f"{where}.sites"): _str(v, f"{where}.sites[{n!r}]")
        for n, v in _entries(obj, "sites", where)
    }


def _bulk(obj: Mapping[str, object], where: str) -> int:
    return _int(obj.get("bulk_max_bytes", 0), f"{where}.bulk_max_bytes", 0, 1 << 30)


def _check_unique_listeners(config: ServicesConfig) -> None:
    seen: dict[tuple[str, IPAddress, int], str] = {}
    for sock in sockets(config):
        if sock.key in seen:
            raise ConfigError(
                f"{sock.where}: {_endpoint(sock.address, sock.port)}/{sock.transport} is "
                f"already used by {seen[sock.key]} — give one of them another address or port"
            )
        seen[sock.key] = sock.where


def _endpoint(address: IPAddress, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


# --- the primitives ------------------------------------------------------------------


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def _object(
    value: object, where: str, keys: Collection[str], required: Collection[str] = ()
) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected an object, got {_kind(value)}")
    for key in value:
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected {', '.join(keys)}"
            raise ConfigError(f"{where}: unknown key {key!r} — {hint}")
    for key in required:
        if key not in value:
            raise ConfigError(f"{where}: {key!r} is required")
    return value


def _items(obj: Mapping[str, object], key: str, where: str) -> list[tuple[object, str]]:
    path = f"{where}.{key}" if where else key
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list, got {_kind(value)}")
    return [(item, f"{path}[{i}]") for i, item in enumerate(value)]


def _entries(obj: Mapping[str, object], key: str, where: str) -> list[tuple[str, object]]:
    value = obj.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}.{key}: expected an object, got {_kind(value)}")
    return list(value.items())


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {_kind(value)}")
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {_kind(value)}")
    return value


def _int(value: object, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected a whole number, got {_kind(value)}")
    if not low <= value <= high:
        raise ConfigError(f"{where}: {value} is out of range — use {low} to {high}")
    return value


def _port(obj: Mapping[str, object], where: str, default: int) -> int:
    return _int(obj.get("port", default), f"{where}.port", 1, 65535)


def _choice(value: object, where: str, choices: tuple[_Choice, ...]) -> _Choice:
    text = _str(value, where)
    for choice in choices:
        if text == choice:
            return choice
    raise ConfigError(f"{where}: {text!r} is not one of {', '.join(choices)}")


def _address(value: object, where: str) -> IPAddress:
    text = _str(value, where)
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is not an IPv4 or IPv6 address") from None


def _addresses(value: object, where: str) -> tuple[IPAddress, ...]:
    if isinstance(value, str):
        return (_address(value, where),)
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected an address or a non-empty list of addresses")
    return tuple(_address(item, f"{where}[{i}]") for i, item in enumerate(value))


def _texts(value: object, where: str) -> tuple[str, ...]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise ConfigError(f"{where}: expected a string or a non-empty list of strings")
    checked = tuple(_str(t, f"{where}[{i}]") for i, t in enumerate(texts))
    for i, text in enumerate(checked):
        if len(text.encode("utf-8")) > 255:
            raise ConfigError(f"{where}[{i}]: longer than 255 bytes — split it into strings")
    return checked


def _name(
    value: object,
    where: str,
    *,
    root_ok: bool = False,
    wildcard_ok: bool = False,
    zone_of: tuple[str, ...] = (),
) -> str:
    text = _str(value, where)
    name = normalize_name(text)
    if name == "." and root_ok:
        return name
    labels = name.split(".")
    if wildcard_ok and labels[0] == "*":
        labels = labels[1:]
    if not name or len(name) > 253 or not all(LABEL.fullmatch(label) for label in labels):
        raise ConfigError(
            f"{where}: {text!r} is not a DNS name — use letters, digits and hyphens, "
            "labels of 1 to 63 characters separated by dots"
        )
    if zone_of and not any(covers(zone, name) for zone in zone_of):
        raise ConfigError(
            f"{where}: {text!r} is not under any of the zones ({', '.join(zone_of)}) — "
            "add its zone to zones"
        )
    return name
