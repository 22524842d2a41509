"""batman-adv's neighbour, originator and gateway tables, read from the kernel.

First from the generic netlink family `batadv` (dumps of GET_NEIGHBORS,
GET_ORIGINATORS and GET_GATEWAYS for the mesh interface), else from
`batctl meshif bat0 nj|oj|gwj`, which prints those same netlink attributes as
JSON under the keys used here (../shared/FIELD-NOTES.md, "Mesh link metrics").
Both paths end in one builder per table, so they give the same dataclasses.
Translation tables and the DAT cache (client MAC addresses) are never asked for.

Units, from the kernel (batman-adv net/batman-adv/bat_v.c, bat_iv_ogm.c): TQ is
0-255; neighbour and originator throughput are kbit/s (its 100 kbit/s estimate
times 100), but a gateway's throughput and advertised bandwidths stay in
100 kbit/s units (batctl prints them /10 as "MBit"). The dataclasses hold kbit/s.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from agent.errors import CollectorError

FAMILY = "batadv"  # BATADV_NL_NAME
# batman-adv include/uapi/linux/batman_adv.h, enum batadv_nl_commands
CMD_GET_ORIGINATORS = 8
CMD_GET_NEIGHBORS = 9
CMD_GET_GATEWAYS = 10
# enum batadv_nl_attrs: (number, uapi name, batctl's JSON key, pyroute2 NLA type).
# Only what these three dumps carry; the TT_* (client) attributes are left out.
ATTRIBUTES = (
    (3, "BATADV_ATTR_MESH_IFINDEX", "mesh_ifindex", "uint32"),
    (6, "BATADV_ATTR_HARD_IFINDEX", "hard_ifindex", "uint32"),
    (7, "BATADV_ATTR_HARD_IFNAME", "hard_ifname", "asciiz"),
    (9, "BATADV_ATTR_ORIG_ADDRESS", "orig_address", "l2addr"),
    (22, "BATADV_ATTR_FLAG_BEST", "best", "flag"),
    (23, "BATADV_ATTR_LAST_SEEN_MSECS", "last_seen_msecs", "uint32"),
    (24, "BATADV_ATTR_NEIGH_ADDRESS", "neigh_address", "l2addr"),
    (25, "BATADV_ATTR_TQ", "tq", "uint8"),
    (26, "BATADV_ATTR_THROUGHPUT", "throughput", "uint32"),
    (27, "BATADV_ATTR_BANDWIDTH_UP", "bandwidth_up", "uint32"),
    (28, "BATADV_ATTR_BANDWIDTH_DOWN", "bandwidth_down", "uint32"),
    (29, "BATADV_ATTR_ROUTER", "router", "l2addr"),
)
BATCTL_COMMANDS = ("nj", "oj", "gwj")  # neighbors_json, originators_json, gateways_json
BATCTL_TIMEOUT = 5.0
# A fixed search path: procd may start the agent with a short PATH, and PATH is
# not ours to trust.
BATCTL_PATH = "/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin"
TQ_MAX = 255
U32_MAX = 2**32 - 1
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")

Entry = Mapping[str, object]  # one entry of a table, under batctl's JSON keys
Table = str | Sequence[object]  # batctl's JSON text, or the list json.loads made of it
T = TypeVar("T")


class TableError(ValueError):
    """A table that is not what the kernel or batctl prints."""


@dataclass(frozen=True)
class Neighbour:
    address: str  # the neighbour's MAC on this link
    interface: str
    last_seen_msecs: int
    throughput_kbit_s: int | None = None  # BATMAN_V only


@dataclass(frozen=True)
class Originator:
    address: str
    next_hop: str
    interface: str
    last_seen_msecs: int
    best: bool
    tq: int | None = None  # BATMAN_IV
    throughput_kbit_s: int | None = None  # BATMAN_V


@dataclass(frozen=True)
class Gateway:
    address: str  # the gateway's originator address
    next_hop: str
    interface: str
    selected: bool
    bandwidth_down_kbit_s: int
    bandwidth_up_kbit_s: int
    tq: int | None = None  # BATMAN_IV
    throughput_kbit_s: int | None = None  # BATMAN_V


@dataclass(frozen=True)
class Tables:
    source: str  # "netlink" or "batctl"
    neighbours: tuple[Neighbour, ...]
    originators: tuple[Originator, ...]
    gateways: tuple[Gateway, ...]


# --- builders: one attribute table (batctl's JSON keys) → one dataclass -------------


def _field(entry: Entry, key: str) -> object:
    if key not in entry:
        raise TableError(f"has no {key!r}")
    return entry[key]


def _mac(entry: Entry, key: str) -> str:
    value = _field(entry, key)
    if not isinstance(value, str) or not _MAC.fullmatch(value):
        raise TableError(f"{key} {value!r} is not a MAC address")
    return value


def _number(entry: Entry, key: str, high: int = U32_MAX) -> int:
    value = _field(entry, key)
    # bool is an int in Python; JSON true is never a count
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
        raise TableError(f"{key} {value!r} is not an integer from 0 to {high}")
    return value


def _optional(entry: Entry, key: str, high: int = U32_MAX) -> int | None:
    return _number(entry, key, high) if key in entry else None


def interface_name(index: int) -> str:
    """The name of a hard interface index, for kernels before 5.14 that send no name."""
    try:
        return socket.if_indextoname(index)
    except OSError:
        return f"ifindex{index}"  # gone since the dump; still one stable label


def _interface(entry: Entry) -> str:
    name = entry.get("hard_ifname")
    if isinstance(name, str) and name.isprintable() and name:
        return name
    return interface_name(_number(entry, "hard_ifindex"))


def neighbour(entry: Entry) -> Neighbour:
    return Neighbour(
        address=_mac(entry, "neigh_address"),
        interface=_interface(entry),
        last_seen_msecs=_number(entry, "last_seen_msecs"),
        throughput_kbit_s=_optional(entry, "throughput"),
    )


def originator(entry: Entry) -> Originator:
    return Originator(
        address=_mac(entry, "orig_address"),
        next_hop=_mac(entry, "neigh_address"),
        interface=_interface(entry),
        last_seen_msecs=_number(entry, "last_seen_msecs"),
        best=entry.get("best") is True,
        tq=_optional(entry, "tq", TQ_MAX),
        throughput_kbit_s=_optional(entry, "throughput"),
    )


def _hundreds(entry: Entry, key: str) -> int:
    """A gateway value the kernel sends in 100 kbit/s units, unlike a neighbour's, in kbit/s."""
    return _number(entry, key, U32_MAX // 100) * 100


def gateway(entry: Entry) -> Gateway:
    return Gateway(
        address=_mac(entry, "orig_address"),
        next_hop=_mac(entry, "router"),
        interface=_interface(entry),
        selected=entry.get("best") is True,
        bandwidth_down_kbit_s=_hundreds(entry, "bandwidth_down"),
        bandwidth_up_kbit_s=_hundreds(entry, "bandwidth_up"),
        tq=_optional(entry, "tq", TQ_MAX),
        throughput_kbit_s=_hundreds(entry, "throughput") if "throughput" in entry else None,
    )


# --- parsers: batctl's JSON, as text or as the list json.loads made of it -----------


def _build_all(data: Table, build: Callable[[Entry], T]) -> list[T]:
    items = json.loads(data) if isinstance(data, str) else data
    if not isinstance(items, list):
        raise TableError(f"expected a JSON list of entries, got {type(items).__name__}")
    built = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise TableError(f"entry {index} is not a JSON object")
        try:
            built.append(build(item))
        except TableError as exc:
            raise TableError(f"entry {index} {exc}") from None
    return built


def parse_neighbours(data: Table) -> list[Neighbour]:
    """`batctl nj` → neighbours. Raises ValueError (json's, or TableError)."""
    return _build_all(data, neighbour)


def parse_originators(data: Table) -> list[Originator]:
    """`batctl oj` → every originator entry, best next hop or not."""
    return _build_all(data, originator)


def parse_gateways(data: Table) -> list[Gateway]:
    """`batctl gwj` → gateways; `best` marks the selected one (gw_mode client only)."""
    return _build_all(data, gateway)


def tables(source: str, nj: Table, oj: Table, gwj: Table) -> Tables:
    try:
        return Tables(
            source,
            tuple(parse_neighbours(nj)),
            tuple(parse_originators(oj)),
            tuple(parse_gateways(gwj)),
        )
    except ValueError as exc:
        raise CollectorError(f"{source} gave an unexpected batman-adv table: {exc}") from exc


# --- generic netlink (pyroute2, imported on first use) ------------------------------


@functools.cache
def message_class() -> Any:
    """pyroute2's genlmsg for batadv. Built on first use: pyroute2 costs a router
    ~14 MB of RSS (FIELD-NOTES), so a node without this collector never loads it."""
    from pyroute2.netlink import genlmsg  # type: ignore[import-untyped]

    class BatadvMessage(genlmsg):  # type: ignore[misc]
        prefix = "BATADV_ATTR_"
        nla_map = (
            (0, "BATADV_ATTR_UNSPEC", "none"),
            *((number, name, kind) for number, name, _, kind in ATTRIBUTES),
        )

    return BatadvMessage


def entry_of(message: Any) -> dict[str, object]:
    """A decoded netlink message → the attribute table batctl would print for it."""
    entry: dict[str, object] = {}
    for _, name, key, _ in ATTRIBUTES:
        value = message.get_attr(name)
        if value is not None:
            entry[key] = value
    return entry


def _dump(sock: Any, command: int, ifindex: int) -> list[dict[str, object]]:
    from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST

    request = message_class()()
    request["cmd"] = command
    request["version"] = 1  # as batctl sends it
    request["attrs"] = [("BATADV_ATTR_MESH_IFINDEX", ifindex)]
    replies = sock.nlm_request(request, msg_type=sock.prid, msg_flags=NLM_F_REQUEST | NLM_F_DUMP)
    return [entry_of(reply) for reply in replies if reply["cmd"] == command]


def read_netlink(mesh: str) -> Tables:
    try:
        from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]
        from pyroute2.netlink.generic import GenericNetlinkSocket  # type: ignore[import-untyped]
    except ImportError as exc:
        raise CollectorError(f"pyroute2 is not installed: {exc}") from exc
    try:
        ifindex = socket.if_nametoindex(mesh)
    except OSError as exc:
        raise CollectorError(f"no interface {mesh}: {exc}") from exc
    sock = GenericNetlinkSocket()
    try:
        sock.bind(FAMILY, message_class())
        commands = (CMD_GET_NEIGHBORS, CMD_GET_ORIGINATORS, CMD_GET_GATEWAYS)
        dumps = [_dump(sock, command, ifindex) for command in commands]
    except NetlinkError as exc:
        raise CollectorError(netlink_failure(mesh, exc.code, str(exc))) from exc
    except OSError as exc:
        raise CollectorError(f"generic netlink failed: {exc}") from exc
    finally:
        sock.close()
    return tables("netlink", *dumps)


def netlink_failure(mesh: str, code: object, text: str) -> str:
    if code == 2:  # ENOENT, from the controller: no such family
        return "generic netlink family batadv not found (kernel module batman-adv not loaded)"
    if code == 19:  # ENODEV, from batman-adv's dump
        return f"{mesh} is not a batman-adv interface"
    return f"generic netlink batadv failed: {text}"


# --- batctl's JSON ------------------------------------------------------------------

Run = Callable[..., "subprocess.CompletedProcess[str]"]


def read_batctl(
    mesh: str,
    run: Run = subprocess.run,
    which: Callable[..., str | None] = shutil.which,
    timeout: float = BATCTL_TIMEOUT,
) -> Tables:
    path = which("batctl", path=BATCTL_PATH)
    if path is None:
        raise CollectorError("batctl is not installed (opkg install batctl-default)")
    # `meshif` exists since batctl 2019.3 and JSON output since 2021.1: every
    # batctl that can answer takes this form, and the old `-m bat0` cannot help.
    texts = [_batctl(run, [path, "meshif", mesh, command], timeout) for command in BATCTL_COMMANDS]
    return tables("batctl", *texts)


def _batctl(run: Run, argv: list[str], timeout: float) -> str:
    shown = "batctl " + " ".join(argv[1:])
    try:
        done = run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CollectorError(f"`{shown}` gave no answer within {timeout:g} s") from exc
    except OSError as exc:
        raise CollectorError(f"`{shown}` could not run: {exc}") from exc
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("Error")]
        detail = errors[0] if errors else f"exit status {done.returncode}"
        if "no valid command" in detail:
            # OpenWrt's batctl-tiny is built without the JSON commands
            detail += " — install batctl-default (batctl-tiny has no JSON output)"
        raise CollectorError(f"`{shown}` failed: {detail}")
    return done.stdout
