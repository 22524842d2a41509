"""`babel`: babeld's view of each neighbour and its routes, from its read-only socket.

babeld's local interface (`local_port`, read-only) greets with `BABEL 1.0`,
lines, `ok`; `dump` answers with `add interface|neighbour|xroute|route` lines
and `ok` (../shared/FIELD-NOTES.md; tests/fixtures/babeld/ are real captures).

    meshkeeper_babel_neighbor_reach_ratio{neighbor,interface}   hellos heard of the last 16
    meshkeeper_babel_neighbor_rxcost{...} / _txcost{...} / _cost{...}   65535 = unreachable
    meshkeeper_babel_neighbor_rtt_seconds{...}     only where timestamps are enabled
    meshkeeper_babel_routes{installed="true|false"}
    meshkeeper_babel_interfaces_up

`neighbor` is the inventory's name for the neighbour when one of its routes
with refmetric 0 (a prefix it originates itself) is an expected neighbour's
mesh address, else its link-local address (a router's, never a client's).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric

from agent import contract
from agent.collectors.base import CollectorSpec, Host
from agent.config import AgentConfig
from agent.errors import CollectorError

UNREACHABLE = 65535
MAX_DUMP_BYTES = 4 * 2**20  # a big mesh's dump is a few hundred kB


class BabeldNotRunning(CollectorError):
    """Nothing listens on babeld's local socket: babeld is not running."""


@dataclass(frozen=True)
class BabelNeighbour:
    address: str  # link-local IPv6
    interface: str
    reach: int  # 16-bit history of hellos heard
    rxcost: int
    txcost: int
    cost: int
    rtt_ms: float | None = None

    @property
    def reach_ratio(self) -> float:
        return bin(self.reach & 0xFFFF).count("1") / 16


@dataclass(frozen=True)
class BabelRoute:
    prefix: str
    installed: bool
    metric: int
    refmetric: int
    via: str
    interface: str


@dataclass(frozen=True)
class BabelDump:
    neighbours: list[BabelNeighbour] = field(default_factory=list)
    routes: list[BabelRoute] = field(default_factory=list)
    interfaces_up: int = 0

    def names(self, expected: dict[str, str]) -> dict[tuple[str, str], str]:
        """(link-local address, interface) → inventory name, from `expected` {address: name}.

        A neighbour's own prefixes reach us with refmetric 0 through it.
        """
        found = {}
        for route in self.routes:
            address, _, length = route.prefix.partition("/")
            host_route = length == ("128" if ":" in address else "32")
            if route.refmetric == 0 and host_route and address in expected:
                found[(route.via, route.interface)] = expected[address]
        return found


def _pairs(words: list[str]) -> dict[str, str]:
    """`add KIND ID key value key value ...` → {key: value}."""
    return dict(zip(words[3::2], words[4::2], strict=False))


def parse_dump(text: str) -> BabelDump:
    """The answer to `dump` (banner included or not) → neighbours, routes, interfaces."""
    dump = BabelDump()
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or words[0] != "add":
            continue
        fields = _pairs(words)
        if words[1] == "neighbour":
            dump.neighbours.append(_neighbour(fields))
        elif words[1] == "route":
            dump.routes.append(
                BabelRoute(
                    prefix=fields["prefix"],
                    installed=fields.get("installed") == "yes",
                    metric=int(fields["metric"]),
                    refmetric=int(fields["refmetric"]),
                    via=fields["via"],
                    interface=fields["if"],
                )
            )
        elif words[1] == "interface" and words[3:5] == ["up", "true"]:
            dump = BabelDump(dump.neighbours, dump.routes, dump.interfaces_up + 1)
    return dump


def _neighbour(fields: dict[str, str]) -> BabelNeighbour:
    return BabelNeighbour(
        address=fields["address"],
        interface=fields["if"],
        reach=int(fields["reach"], 16),
        rxcost=int(fields["rxcost"]),
        txcost=int(fields["txcost"]),
        cost=int(fields["cost"]),
        rtt_ms=float(fields["rtt"]) if "rtt" in fields else None,
    )


def endpoint(local: str) -> tuple[int, str | tuple[str, int]]:
    """`[::1]:33123`, `127.0.0.1:33123` or a unix socket path → (family, address)."""
    if local.startswith("/"):
        return socket.AF_UNIX, local
    host, _, port = local.rpartition(":")
    host = host.strip("[]")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))


def read_dump(local: str, timeout: float = 2.0) -> str:
    """Ask babeld for a `dump` over its local socket; the text up to the closing `ok`."""
    family, address = endpoint(local)
    deadline = time.monotonic() + timeout
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            received = _until_ok(sock, [], deadline)  # the banner
            sock.sendall(b"dump\n")
            text = _until_ok(sock, received, deadline)
            sock.sendall(b"quit\n")
    except (ConnectionRefusedError, FileNotFoundError) as exc:
        raise BabeldNotRunning(f"babeld does not answer on {local}: {exc}") from exc
    except OSError as exc:
        raise CollectorError(f"babeld does not answer on {local}: {exc}") from exc
    return b"".join(text).decode("utf-8", "replace")


def _until_ok(sock: socket.socket, before: list[bytes], deadline: float) -> list[bytes]:
    """Read until babeld's closing `ok` (or `bad`/`no`), within one deadline and size."""
    chunks = list(before)
    size = sum(map(len, chunks))
    tail = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CollectorError("babeld did not finish its answer in time")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise CollectorError("babeld closed its local socket mid-answer")
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_DUMP_BYTES:
            raise CollectorError(f"babeld's answer exceeds {MAX_DUMP_BYTES} bytes")
        tail = (tail + chunk)[-8:]
        if tail.endswith((b"\nbad\n", b"\nno\n")) or tail in (b"bad\n", b"no\n"):
            raise CollectorError("babeld refused `dump`")
        if tail.endswith(b"\nok\n") or tail == b"ok\n":
            return chunks


def families(dump: BabelDump, expected: dict[str, str]) -> list[Metric]:
    names = dump.names(expected)
    labels = ["neighbor", "interface"]

    def gauge(name: str, text: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"meshkeeper_babel_neighbor_{name}", text, labels=labels)

    reach = gauge("reach_ratio", "Share of the last 16 hellos heard from the neighbour.")
    rxcost = gauge("rxcost", "Cost babel computes for receiving from the neighbour (65535: none).")
    txcost = gauge("txcost", "Cost the neighbour reports for receiving from us (65535: none).")
    cost = GaugeMetricFamily(
        contract.M_BABEL_COST, "Link cost babel routes with (65535: unreachable).", labels=labels
    )
    rtt = gauge("rtt_seconds", "Round-trip time from babel's hello timestamps.")
    for n in dump.neighbours:
        key = [names.get((n.address, n.interface), n.address), n.interface]
        reach.add_metric(key, n.reach_ratio)
        rxcost.add_metric(key, float(n.rxcost))
        txcost.add_metric(key, float(n.txcost))
        cost.add_metric(key, float(n.cost))
        if n.rtt_ms is not None:
            rtt.add_metric(key, n.rtt_ms / 1000)
    routes = GaugeMetricFamily(
        "meshkeeper_babel_routes",
        "Routes babel knows, installed in the kernel or kept as alternatives.",
        labels=["installed"],
    )
    for installed in (True, False):
        count = sum(1 for r in dump.routes if r.installed is installed)
        routes.add_metric([str(installed).lower()], float(count))
    up = GaugeMetricFamily(
        "meshkeeper_babel_interfaces_up", "Mesh interfaces babel runs on.", value=dump.interfaces_up
    )
    return [reach, rxcost, txcost, cost, rtt, routes, up]


class BabelCollector:
    def __init__(self, config: AgentConfig, read: Callable[[], str]) -> None:
        self._expected = {n.address: n.name for n in config.neighbours}
        self._read = read

    def collect(self) -> list[Metric]:
        return families(parse_dump(self._read()), self._expected)

    def close(self) -> None:
        return None


def build(config: AgentConfig, host: Host) -> BabelCollector:
    local = config.mesh.babel_local
    if local is None:
        raise CollectorError("agent.json has no mesh.babel_local: this node does not run babel")
    return BabelCollector(config, lambda: read_dump(local, host.babel_timeout))


SPEC = CollectorSpec("babel", 15.0, build, "babeld's neighbours (reach, costs, rtt) and routes")
