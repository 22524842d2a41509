"""`ubus` on a lab router: the two calls a push's apply script makes, as OpenWrt prints them.

    ubus call service list ['{"name":"NAME"}']   procd's services: dropbear, babeld,
                                                  meshkeeper-agent, with live instances
    ubus call network.interface dump             netifd's view of each UCI interface

Anything else fails as ubus does for an object it does not know: "Command
failed: Not found", exit 4. Output is libubox's blobmsg_format_json_indent:
tab-indented `"key": value`, with an empty object or array printed as its
brackets around a line holding only the inner indentation
(tests/fixtures/ubus/, recorded on OpenWrt 22.03.4).
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TypeAlias

from controller.errors import UciError
from lab.shim import agent, babeld, dropbear
from lab.shim.ifstatus import InterfaceState, read_states
from lab.shim.labinfo import LabInfo

Json: TypeAlias = dict[str, "Json"] | list["Json"] | str | int | bool
NOT_FOUND = 4  # UBUS_STATUS_NOT_FOUND
PARSE_ERROR = 244  # -UBUS_STATUS_PARSE_ERROR as the CLI's exit status
TERM_TIMEOUT = 5  # procd's default for every instance
ESCAPES = {"\b": "\\b", "\n": "\\n", "\t": "\\t", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def ubus_json(value: Json, depth: int = 0) -> str:
    """`value` as the ubus CLI prints it (without the final newline)."""
    if isinstance(value, dict):
        items = [f"{_string(k)}: {ubus_json(v, depth + 1)}" for k, v in value.items()]
        return _block("{", items, "}", depth)
    if isinstance(value, list):
        return _block("[", [ubus_json(v, depth + 1) for v in value], "]", depth)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _string(value)


def _block(opening: str, items: list[str], closing: str, depth: int) -> str:
    outer, inner = "\t" * depth, "\t" * (depth + 1)
    body = ",\n".join(f"{inner}{item}" for item in items) if items else inner
    return f"{opening}\n{body}\n{outer}{closing}"


def _string(text: str) -> str:
    """libubox escapes only these; other control characters as \\u00XX, the rest raw."""
    out = (ESCAPES.get(c, f"\\u{ord(c):04x}" if c < " " else c) for c in text)
    return f'"{"".join(out)}"'


def instance(pid: int, command: Sequence[str]) -> dict[str, Json]:
    return {"running": True, "pid": pid, "command": list(command), "term_timeout": TERM_TIMEOUT}


def service(instances: dict[str, Json]) -> dict[str, Json]:
    """procd lists a service with no live instance as an empty object."""
    return {"instances": instances} if instances else {}


def service_list(lab: LabInfo) -> dict[str, Json]:
    """The services the lab really runs, sorted by name as procd lists them."""
    services: dict[str, Json] = {}
    pid = babeld.running()
    services["babeld"] = service({"instance1": instance(pid, babeld.ARGV)} if pid else {})
    services["dropbear"] = service(
        {name: instance(r.pid, r.command) for name, r in dropbear.live().items()}
    )
    if lab.agent:  # installed: procd knows the service even while it is stopped
        pid = agent.running()
        services["meshkeeper-agent"] = service(
            {"instance1": instance(pid, lab.agent)} if pid else {}
        )
    return dict(sorted(services.items()))


def interface_dump(states: list[InterfaceState]) -> dict[str, Json]:
    return {"interface": [interface_status(s) for s in states]}


def interface_status(state: InterfaceState) -> dict[str, Json]:
    """netifd's keys, in its order, for what the lab knows (no uptime: it keeps no clock)."""
    out: dict[str, Json] = {
        "interface": state.name,
        "up": state.up,
        "pending": False,
        "available": state.available,
        "autostart": state.autostart,
        "dynamic": False,
    }
    if state.up:
        out["l3_device"] = state.present[0]
    out["proto"] = state.proto
    if state.device or state.present:
        out["device"] = state.device or state.present[0]
    if state.up:
        out.update(_up_details(state))
    out["data"] = {}
    if not state.available:
        out["errors"] = [{"subsystem": "interface", "code": "NO_DEVICE"}]
    return out


def _up_details(state: InterfaceState) -> dict[str, Json]:
    empty: dict[str, Json] = {
        key: [] for key in ("ipv4-address", "ipv6-address", "route", "dns-server", "dns-search")
    }
    empty["neighbors"] = []
    ipv4: list[Json] = []
    for address in state.addresses:
        ip, _, mask = address.partition("/")
        ipv4.append({"address": ip, "mask": int(mask)})
    routes: list[Json] = [
        {"target": r.target, "mask": r.mask, "nexthop": r.nexthop, "source": r.source}
        for r in state.routes
    ]
    return {
        "metric": state.metric,
        "dns_metric": 0,
        "delegation": True,
        "ipv4-address": ipv4,
        "ipv6-address": [],
        "ipv6-prefix": [],
        "ipv6-prefix-assignment": [],
        "route": routes,
        "dns-server": [],
        "dns-search": [],
        "neighbors": [],
        "inactive": empty,
    }


def _named(data: dict[str, Json], message: dict[str, Json]) -> dict[str, Json]:
    name = message.get("name")
    if not isinstance(name, str):
        return data
    return {name: data[name]} if name in data else {}


def _message(raw: str) -> dict[str, Json] | None:
    """The call's JSON object, or None where ubus cannot parse it."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


CALLS: dict[tuple[str, str], Callable[[LabInfo, dict[str, Json]], dict[str, Json]]] = {
    ("service", "list"): lambda lab, message: _named(service_list(lab), message),
    ("network.interface", "dump"): lambda lab, message: interface_dump(read_states(lab)),
}


def main(argv: list[str], lab: LabInfo) -> int:
    if len(argv) < 3 or argv[0] != "call":
        print("usage: ubus call PATH METHOD [MESSAGE] (all the lab emulates)", file=sys.stderr)
        return 2
    path, method, raw = argv[1], argv[2], (argv[3] if len(argv) > 3 else "{}")
    call = CALLS.get((path, method))
    if call is None:
        print("Command failed: Not found", file=sys.stderr)
        return NOT_FOUND
    message = _message(raw)
    if message is None:
        failed = f"ubus call {path} {method} {raw} (Parsing message data failed)"
        print(f"Command failed: {failed}", file=sys.stderr)
        return PARSE_ERROR
    try:
        result = call(lab, message)
    except UciError as exc:  # netifd would answer from its last good config; the lab cannot
        print(f"Command failed: {exc}", file=sys.stderr)
        return 1
    # like the C CLI, die quietly when the reader has gone (`ubus ... | grep -q x`)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    print(ubus_json(result))
    return 0
