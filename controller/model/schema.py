"""The inventory's pydantic models: what an operator may write, and nothing else.

Layered node settings (`defaults` → `profiles.<name>` → `nodes.<name>`) are merged
as plain mappings first (see resolve.py) and validated here as one `Node`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator, model_validator

from agent.contract import PROBE_KINDS
from controller.model.types import (
    ConfigText,
    EnvSecret,
    FileSecret,
    Hostname,
    IPv4,
    IPv4Net,
    IPv4WithPrefix,
    Port,
    SecretRef,
    Strict,
    UciName,
    Ula48,
)
from controller.model.yamlbuild import shown

RELEASES = ("19.07", "21.02", "22.03", "23.05", "24.10")
Band = Literal["2g", "5g", "6g"]
Role = Literal["gateway", "relay", "leaf"]
HtMode = Literal[
    "NOHT",
    "HT20",
    "HT40",
    "HT40+",
    "HT40-",
    "VHT20",
    "VHT40",
    "VHT80",
    "VHT160",
    "HE20",
    "HE40",
    "HE80",
    "HE160",
    "EHT20",
    "EHT40",
    "EHT80",
    "EHT160",
    "EHT320",
]
EMAIL = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$"
DeviceName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{1,15}$")]
Duration = Annotated[str, Field(pattern=r"^[0-9]+[smhdwy]$")]


def _ssid_length(value: str) -> str:
    size = len(value.encode("utf-8"))
    if size > 32:
        raise ValueError(
            f"is {size} bytes long; 802.11 allows at most 32 bytes — shorten it "
            "(non-ASCII letters take 2-4 bytes each)"
        )
    if size == 0:
        raise ValueError("is empty — give it a name of 1 to 32 bytes")
    return value


class Network(Strict):
    name: Hostname
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    timezone: Annotated[ConfigText, Field(max_length=64)]  # IANA names are at most ~32
    ntp_servers: list[ConfigText] = Field(default_factory=list)
    description: ConfigText | None = None


class Radio(Strict):
    band: Band
    channel: int | Literal["auto"] | None = None
    htmode: HtMode | None = None
    txpower: Annotated[int, Field(ge=0, le=36)] | None = None
    # Long rooftop links need the ACK timeout of their length (metres).
    distance: Annotated[int, Field(ge=1, le=100000)] | None = None
    # Board-specific: how OpenWrt finds the radio (as in the board's stock config).
    path: ConfigText | None = None
    disabled: bool = False


class AccessPoint(Strict):
    ssid: ConfigText
    radios: Annotated[list[UciName], Field(min_length=1)]
    encryption: Literal["none", "psk2", "sae", "sae-mixed"] = "none"
    key: SecretRef | None = None
    isolate: bool = False
    hidden: bool = False

    _check_ssid = field_validator("ssid")(_ssid_length)

    @model_validator(mode="after")
    def _key_matches_encryption(self) -> AccessPoint:
        if self.encryption == "none" and self.key is not None:
            raise ValueError(
                "has a key but encryption 'none' — set encryption to psk2, sae or sae-mixed, "
                "or remove the key"
            )
        if self.encryption != "none" and self.key is None:
            raise ValueError(
                f"encryption {self.encryption!r} needs a key — add key: {{env: NAME}} or "
                "{file: PATH}"
            )
        return self


class Uplink(Strict):
    isp: Hostname
    proto: Literal["dhcp", "static", "pppoe"] = "dhcp"
    port: DeviceName = "wan"
    address: IPv4WithPrefix | None = None
    gateway: IPv4 | None = None
    username: ConfigText | None = None
    password: SecretRef | None = None

    @model_validator(mode="after")
    def _proto_fields(self) -> Uplink:
        missing = [f for f in ("address", "gateway") if getattr(self, f) is None]
        if self.proto == "static" and missing:
            raise ValueError(
                f"proto 'static' needs address and gateway — add {' and '.join(missing)}"
            )
        if self.proto != "static" and (self.address or self.gateway):
            raise ValueError(
                f"address/gateway are only used with proto 'static', not {self.proto!r} — "
                "remove them or set proto: static"
            )
        missing = [f for f in ("username", "password") if getattr(self, f) is None]
        if self.proto == "pppoe" and missing:
            raise ValueError(
                f"proto 'pppoe' needs username and password — add {' and '.join(missing)}"
            )
        return self


class Lan(Strict):
    ports: list[DeviceName] = Field(default_factory=list)
    subnet: IPv4Net | None = None
    dhcp: bool = True


class Ssh(Strict):
    user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "root"
    port: Port = 22
    key_file: ConfigText | None = None
    host_key: ConfigText | None = None
    legacy_rsa: bool = False
    authorized_keys: list[ConfigText | FileSecret] = Field(default_factory=list)

    @field_validator("host_key")
    @classmethod
    def _host_key_shape(cls, value: str | None) -> str | None:
        if value is not None and len(value.split()) < 2:
            raise ValueError(
                "is not an SSH public key — paste 'TYPE BASE64' as `ssh-keyscan` prints it"
            )
        return value


class Switch(Strict):
    """swconfig boards (19.07, and 21.02 targets not yet on DSA): the switch VLANs.

    The board's stock `config switch_vlan` port lists, e.g. {1: "0t 2 3 4 5", 2: "0t 1"}.
    """

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,15}$")] = "switch0"
    vlans: dict[Annotated[int, Field(ge=1, le=4094)], ConfigText]


class NodeMesh(Strict):
    enabled: bool = True
    radio: UciName | None = None
    ports: list[DeviceName] = Field(default_factory=list)
    protocol: Literal["babel", "batman-adv"] | None = None
    mesh_id: ConfigText | None = None


CollectorName = Literal["system", "interfaces", "babel", "batman_adv", "wireless", "neighbours"]
RouterPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]{1,200}$")]


class AgentTls(Strict):
    """Files already on the router (install them with your own tooling)."""

    cert: RouterPath
    key: RouterPath
    client_ca: RouterPath | None = None  # set: scrapers must show a certificate it signed


class AgentBasicAuth(Strict):
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    password: SecretRef


class Agent(Strict):
    enabled: bool = True
    port: Port = 9110
    # How often each collector runs; `neighbours` sends 3 echoes per link each time.
    interval: Annotated[int, Field(ge=5, le=3600)] = 15
    # Default: what the node's config implies (its mesh protocol; wireless with radios).
    collectors: Annotated[list[CollectorName], Field(min_length=1)] | None = None
    tls: AgentTls | None = None
    basic_auth: AgentBasicAuth | None = None

    @model_validator(mode="after")
    def _password_only_over_tls(self) -> Agent:
        if self.basic_auth is not None and self.tls is None:
            raise ValueError(
                "basic_auth needs tls: without it the scrape password crosses the mesh's "
                "radio links in the clear — add agent.tls (cert and key on the node)"
            )
        return self


class Node(Strict):
    """One router, after its layers were merged."""

    name: Hostname
    id: Annotated[int, Field(ge=1)] | None = None
    profile: Hostname | None = None
    role: Role
    release: str
    model: ConfigText = "generic"
    description: ConfigText | None = None
    management: IPv4 | None = None
    mesh_address: IPv4 | None = None
    ssh: Ssh = Field(default_factory=Ssh)
    radios: dict[UciName, Radio] = Field(default_factory=dict)
    mesh: NodeMesh = Field(default_factory=NodeMesh)
    access_points: list[AccessPoint] = Field(default_factory=list)
    uplinks: list[Uplink] = Field(default_factory=list)
    lan: Lan = Field(default_factory=Lan)
    agent: Agent = Field(default_factory=Agent)
    switch: Switch | None = None

    @field_validator("release", mode="before")
    @classmethod
    def _release(cls, value: object) -> object:
        if isinstance(value, str) and value not in RELEASES:
            raise ValueError(
                f"OpenWrt {shown(value)} cannot be rendered — use one of {', '.join(RELEASES)}"
            )
        return value


class Mesh(Strict):
    protocol: Literal["babel", "batman-adv"]
    mesh_id: ConfigText
    key: SecretRef | None = None
    band: Band
    channel: int
    htmode: HtMode | None = None

    _check_mesh_id = field_validator("mesh_id")(_ssid_length)


class Link(Strict):
    a: Hostname
    b: Hostname
    medium: Literal["wifi", "ethernet"] = "wifi"
    description: ConfigText | None = None


class Addressing(Strict):
    mesh: IPv4Net = "10.31.0.0/16"
    lan: IPv4Net = "10.32.0.0/11"
    lan_prefix: Annotated[int, Field(ge=16, le=30)] = 24
    # The network's IPv6 ULA /48; default: derived from network.name (plan.ula_prefix).
    ula: Ula48 | None = None


class Isp(Strict):
    description: ConfigText | None = None
    asn: Annotated[int, Field(ge=1, le=4294967295)] | None = None


def _probe_kind(kind: str) -> str:
    if kind not in PROBE_KINDS:
        raise ValueError(f"{shown(kind)} is no probe kind — use one of {', '.join(PROBE_KINDS)}")
    return kind


# The agent's list (agent/contract.py), never spelled here: a kind the agent lacks
# would fail on every router at its next start.
ProbeKind = Annotated[str, AfterValidator(_probe_kind), WithJsonSchema({"enum": list(PROBE_KINDS)})]


class Target(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]
    address: IPv4 | None = None
    host: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]{1,253}$")] | None = None
    port: Port | None = None
    kinds: Annotated[list[ProbeKind], Field(min_length=1)] = ["icmp"]
    isp: Hostname | None = None
    # What a `throughput` probe downloads over plain HTTP (port 80): a URL path whose
    # answer is at least probes.throughput.bytes long, e.g. /bytes/65536.
    download: RouterPath | None = None  # a URL path: the same characters, nothing to escape

    @model_validator(mode="after")
    def _address_or_host(self) -> Target:
        if self.address is None and self.host is None:
            raise ValueError("needs an address or a host — add one of them")
        if "throughput" in self.kinds and self.download is None:
            raise ValueError("kind throughput needs `download`, the URL path it fetches")
        return self


class ProbeTiers(Strict):
    gateway: bool = True
    isp: list[Target] = Field(default_factory=list)
    domestic: list[Target] = Field(default_factory=list)
    international: list[Target] = Field(default_factory=list)
    platforms: list[Target] = Field(default_factory=list)


class Throughput(Strict):
    # Rounds between downloads (every round while the last one was slow), and the
    # bytes each reads: the default costs ~13 kB a minute, 0.2 % of a 1 Mbit/s uplink.
    every: Annotated[int, Field(ge=1, le=1000)] = 5
    bytes: Annotated[int, Field(ge=1024, le=1_048_576)] = 65_536


class Probes(Strict):
    interval: Annotated[int, Field(ge=10, le=3600)] = 60
    tiers: ProbeTiers = Field(default_factory=ProbeTiers)
    throughput: Throughput = Field(default_factory=Throughput)
    # The tls probe's trust store on the routers; left out, the system's
    # (/etc/ssl/certs/ca-certificates.crt with OpenWrt's ca-certificates package).
    ca_file: RouterPath | None = None


class Service(Strict):
    port: Port
    retention: Duration | None = None


AlertCategory = Literal["shutdown", "node", "link", "push", "noc"]


class Receiver(Strict):
    webhook: SecretRef | None = None
    # Not just [^@\s]: that would let control characters into alertmanager's config.
    email: Annotated[str, Field(pattern=EMAIL)] | None = None

    @model_validator(mode="after")
    def _one_channel(self) -> Receiver:
        if (self.webhook is None) == (self.email is None):
            raise ValueError("needs exactly one of webhook or email — set one")
        return self


class Route(Strict):
    receiver: Hostname
    categories: Annotated[list[AlertCategory], Field(min_length=1)]
    severity: Literal["critical", "warning", "info"] | None = None


NocPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]{1,200}$")]  # a file on the NOC


class Smtp(Strict):
    """Where Alertmanager sends e-mail (needed by `email` receivers)."""

    smarthost: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]{1,253}:[0-9]{1,5}$")]
    sender: Annotated[str, Field(pattern=EMAIL)]
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@+-]{1,128}$")] | None = None
    password: SecretRef | None = None
    require_tls: bool = True


class ScrapeTls(Strict):
    """The NOC's side of agents that serve TLS (files on the NOC)."""

    ca_file: NocPath  # the CA that signed the agents' certificates
    cert_file: NocPath | None = None  # the NOC's client certificate (agents with client_ca)
    key_file: NocPath | None = None

    @model_validator(mode="after")
    def _pair(self) -> ScrapeTls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("needs both cert_file and key_file, or neither")
        return self


class Segment(Strict):
    """One Prometheus inside one part of the mesh: it scrapes that part's routers
    and keeps working through a cut; the NOC's Prometheus federates from it."""

    address: IPv4
    port: Port = 9090
    nodes: Annotated[list[Hostname], Field(min_length=1)]


class RemoteWrite(Strict):
    """A long-term store every Prometheus ships to (VictoriaMetrics, Thanos Receive,
    Mimir, Cortex: anything speaking Prometheus remote write)."""

    url: Annotated[str, Field(pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?$")]
    bearer_token: SecretRef | None = None


class Noc(Strict):
    host: Hostname = "noc"
    address: IPv4
    entry: Hostname
    # The entry node's port the NOC's cable plugs into; that node routes the
    # NOC's address into the mesh.
    port: DeviceName = "lan4"
    prometheus: Service = Service(port=9090, retention="30d")
    alertmanager: Service = Service(port=9093)
    # The controller's exporter (`meshkeeper monitoring exporter`): the push state as metrics.
    exporter: Service = Service(port=9111)
    receivers: dict[Hostname, Receiver] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    smtp: Smtp | None = None
    scrape_tls: ScrapeTls | None = None
    segments: dict[Hostname, Segment] = Field(default_factory=dict)
    remote_write: list[RemoteWrite] = Field(default_factory=list)


class InventoryFile(Strict):
    """The top level of the merged inventory (layers not yet applied)."""

    network: Network
    mesh: Mesh
    addressing: Addressing = Field(default_factory=Addressing)
    isps: dict[Hostname, Isp] = Field(default_factory=dict)
    probes: Probes = Field(default_factory=Probes)
    noc: Noc
    links: list[Link] = Field(default_factory=list)
    defaults: dict[str, object] = Field(default_factory=dict)
    profiles: dict[Hostname, dict[str, object]] = Field(default_factory=dict)
    nodes: dict[str, object] = Field(default_factory=dict)


SECRET_TYPES = (EnvSecret, FileSecret)
