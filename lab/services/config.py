"""The services config: one JSON file, parsed into frozen dataclasses, strictly.

Every key is optional unless marked *required*; an unknown key anywhere is an
error that names its path (`dns[0].tamper['chat.test'].mode`) and the fix.
Names are DNS names, compared case-insensitively, a trailing dot ignored. A
rule for a name (`tamper`, `block`, `names`) also covers every name under it
(`"."` covers every name); the most specific rule wins.
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
        "ttl": 60                        # other names, and the other address type, get no
                                         # answer: a censor forges only what it blocks
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

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple, get_args

from lab.services import fields
from lab.services.errors import ConfigError
from lab.services.names import IPAddress, endpoint, is_bogon

TamperMode = Literal["lie", "bogon", "nxdomain", "servfail", "drop", "inject"]
HttpBlock = Literal["blockpage", "reset"]
TlsBlock = Literal["reset"]

TAMPER_MODES: tuple[TamperMode, ...] = get_args(TamperMode)
HTTP_BLOCKS: tuple[HttpBlock, ...] = get_args(HttpBlock)
TLS_BLOCKS: tuple[TlsBlock, ...] = get_args(TlsBlock)
_ADDRESS_MODES = frozenset({"lie", "bogon", "inject"})
DEFAULT_BOGON = ipaddress.IPv4Address("127.0.0.1")
DEFAULT_BLOCKPAGE = "This site is blocked by order of the authorities (meshkeeper lab).\n"


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
    top = fields.obj(
        data, "config", ("dns", "dns_injector", "http", "tls", "tcp_echo", "max_concurrent")
    )
    config = ServicesConfig(
        dns=tuple(_dns(v, w) for v, w in fields.items(top, "dns", "")),
        dns_injector=tuple(_injector(v, w) for v, w in fields.items(top, "dns_injector", "")),
        http=tuple(_http(v, w) for v, w in fields.items(top, "http", "")),
        tls=tuple(_tls(v, w, base) for v, w in fields.items(top, "tls", "")),
        tcp_echo=tuple(_echo(v, w) for v, w in fields.items(top, "tcp_echo", "")),
        max_concurrent=fields.integer(top.get("max_concurrent", 32), "max_concurrent", 1, 1024),
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


# --- the parts -----------------------------------------------------------------------


def _dns(value: object, where: str) -> DnsService:
    keys = ("listen", "port", "tcp", "ttl", "zones", "records", "txt", "tamper")
    obj = fields.obj(value, where, keys, required=("listen", "zones"))
    zones = tuple(fields.dns_name(z, w, root_ok=True) for z, w in fields.items(obj, "zones", where))
    if not zones:
        raise ConfigError(f"{where}.zones: empty — list the zones this server answers for")
    records = {
        fields.dns_name(n, f"{where}.records", zone_of=zones): fields.addresses(
            v, f"{where}.records[{n!r}]"
        )
        for n, v in fields.entries(obj, "records", where)
    }
    txt = {
        fields.dns_name(n, f"{where}.txt", zone_of=zones): fields.texts(v, f"{where}.txt[{n!r}]")
        for n, v in fields.entries(obj, "txt", where)
    }
    tamper = {
        fields.dns_name(n, f"{where}.tamper", root_ok=True): _tamper(v, f"{where}.tamper[{n!r}]")
        for n, v in fields.entries(obj, "tamper", where)
    }
    return DnsService(
        listen=fields.address(obj["listen"], f"{where}.listen"),
        port=fields.port(obj, where, 53),
        tcp=fields.boolean(obj.get("tcp", True), f"{where}.tcp"),
        ttl=fields.integer(obj.get("ttl", 60), f"{where}.ttl", 0, 604800),
        zones=zones,
        records=records,
        txt=txt,
        tamper=tamper,
    )


def _tamper(value: object, where: str) -> TamperRule:
    if isinstance(value, str):
        value = {"mode": value}
    obj = fields.obj(value, where, ("mode", "address"), required=("mode",))
    mode = fields.choice(obj["mode"], f"{where}.mode", TAMPER_MODES)
    if "address" in obj and mode not in _ADDRESS_MODES:
        raise ConfigError(f"{where}.address: mode {mode!r} takes no address — remove it")
    if "address" not in obj and mode in ("lie", "inject"):
        raise ConfigError(
            f"{where}: mode {mode!r} needs an address — write "
            f'{{"mode": "{mode}", "address": "198.18.66.6"}}'
        )
    address = fields.address(obj["address"], f"{where}.address") if "address" in obj else None
    if mode == "bogon":
        address = DEFAULT_BOGON if address is None else address
        if not is_bogon(address):
            raise ConfigError(
                f"{where}.address: {address} is not a bogon — use a private, loopback or "
                "reserved address such as 127.0.0.1 or 10.10.34.35"
            )
    return TamperRule(mode=mode, address=address)


def _injector(value: object, where: str) -> DnsInjector:
    obj = fields.obj(
        value, where, ("listen", "port", "address", "names", "ttl"), ("listen", "address")
    )
    return DnsInjector(
        listen=fields.address(obj["listen"], f"{where}.listen"),
        port=fields.port(obj, where, 53),
        address=fields.address(obj["address"], f"{where}.address"),
        names=tuple(
            fields.dns_name(n, w, root_ok=True) for n, w in fields.items(obj, "names", where)
        ),
        ttl=fields.integer(obj.get("ttl", 60), f"{where}.ttl", 0, 604800),
    )


def _http(value: object, where: str) -> HttpService:
    keys = ("listen", "port", "sites", "block", "blockpage", "bulk_max_bytes")
    obj = fields.obj(value, where, keys, required=("listen",))
    return HttpService(
        listen=fields.address(obj["listen"], f"{where}.listen"),
        port=fields.port(obj, where, 80),
        sites=_sites(obj, where),
        block={
            fields.dns_name(n, f"{where}.block", root_ok=True): fields.choice(
                v, f"{where}.block[{n!r}]", HTTP_BLOCKS
            )
            for n, v in fields.entries(obj, "block", where)
        },
        blockpage=fields.string(obj.get("blockpage", DEFAULT_BLOCKPAGE), f"{where}.blockpage"),
        bulk_max_bytes=_bulk(obj, where),
    )


def _tls(value: object, where: str, base: Path) -> TlsService:
    keys = ("listen", "port", "certificates", "sites", "block", "bulk_max_bytes")
    obj = fields.obj(value, where, keys, required=("listen", "certificates"))
    certificates = tuple(
        _certificate(v, w, base) for v, w in fields.items(obj, "certificates", where)
    )
    if not certificates:
        raise ConfigError(f"{where}.certificates: empty — give at least one (the default)")
    return TlsService(
        listen=fields.address(obj["listen"], f"{where}.listen"),
        port=fields.port(obj, where, 443),
        certificates=certificates,
        sites=_sites(obj, where),
        block={
            fields.dns_name(n, f"{where}.block", root_ok=True): fields.choice(
                v, f"{where}.block[{n!r}]", TLS_BLOCKS
            )
            for n, v in fields.entries(obj, "block", where)
        },
        bulk_max_bytes=_bulk(obj, where),
    )


def _certificate(value: object, where: str, base: Path) -> Certificate:
    obj = fields.obj(value, where, ("names", "cert", "key"), required=("names", "cert", "key"))
    names = tuple(
        fields.dns_name(n, w, wildcard_ok=True) for n, w in fields.items(obj, "names", where)
    )
    if not names:
        raise ConfigError(f"{where}.names: empty — list the names this certificate is for")
    return Certificate(
        names=names,
        cert=base / fields.string(obj["cert"], f"{where}.cert"),
        key=base / fields.string(obj["key"], f"{where}.key"),
    )


def _echo(value: object, where: str) -> TcpEchoService:
    obj = fields.obj(value, where, ("listen", "port"), required=("listen",))
    return TcpEchoService(
        listen=fields.address(obj["listen"], f"{where}.listen"), port=fields.port(obj, where, 7)
    )


def _sites(obj: Mapping[str, object], where: str) -> dict[str, str]:
    return {
        fields.dns_name(n, f"{where}.sites"): fields.string(v, f"{where}.sites[{n!r}]")
        for n, v in fields.entries(obj, "sites", where)
    }


def _bulk(obj: Mapping[str, object], where: str) -> int:
    return fields.integer(obj.get("bulk_max_bytes", 0), f"{where}.bulk_max_bytes", 0, 1 << 30)


def _check_unique_listeners(config: ServicesConfig) -> None:
    seen: dict[tuple[str, IPAddress, int], str] = {}
    for sock in sockets(config):
        if sock.key in seen:
            raise ConfigError(
                f"{sock.where}: {endpoint(sock.address, sock.port)}/{sock.transport} is "
                f"already used by {seen[sock.key]} — give one of them another address or port"
            )
        seen[sock.key] = sock.where
