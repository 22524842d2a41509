"""Apply /etc/config/network to a lab router: addresses and routes, as netifd would.

Planning is a pure function of the UCI packages and the lab's hardware map;
applying diffs the plan against the kernel (`ip -j`) and changes only what
differs, so a reload with an unchanged config touches nothing.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.uci import Package, Section
from lab.host import LabError, run
from lab.shim.config import read_package
from lab.shim.labinfo import LabInfo

BRIDGE = "br-lan"
STATIC_PROTO = "static"  # the routes we install carry proto static; we own those


@dataclass(frozen=True, order=True)
class Route:
    target: str  # a.b.c.d/len
    device: str
    via: str | None = None
    metric: int = 0


@dataclass
class NetworkPlan:
    addresses: dict[str, set[str]] = field(default_factory=dict)  # device → {a.b.c.d/len}
    routes: set[Route] = field(default_factory=set)
    devices: dict[str, list[str]] = field(default_factory=dict)  # logical interface → devices


def opt(section: Section, name: str) -> str | None:
    value = section.options.get(name)
    return value if isinstance(value, str) else None


def interface_devices(
    network: Package, wireless: Package | None, lab: LabInfo, section: Section
) -> list[str]:
    """The Linux devices a logical interface (a `config interface` section) lands on."""
    name = section.name or ""
    device = opt(section, "device") or opt(section, "ifname")
    if opt(section, "type") == "bridge" or device == BRIDGE:
        return [BRIDGE]
    if device is None:
        joined = [
            s
            for s in (wireless.sections if wireless else [])
            if s.type == "wifi-iface" and s.options.get("network") == name
        ]
        if any(s.options.get("mode") == "mesh" for s in joined):
            return list(lab.wifi)
        return [BRIDGE] if joined else []
    if device in ("bat0",) or opt(section, "proto") in ("batadv", "batadv_hardif"):
        raise LabError(
            "batman-adv needs its kernel module, which the practice lab does not "
            "have: the lab emulates babel networks"
        )
    return device.split()[:1] if device else []


def current_plan(lab: LabInfo) -> NetworkPlan:
    """The plan for the router's /etc/config now (UciError if libuci would refuse it)."""
    network = read_package("network") or Package("network")
    return plan_network(network, read_package("wireless"), lab)


def plan_network(network: Package, wireless: Package | None, lab: LabInfo) -> NetworkPlan:
    plan = NetworkPlan()
    for section in network.sections:
        if section.type != "interface" or section.name == "loopback":
            continue
        devices = interface_devices(network, wireless, lab, section)
        plan.devices[section.name or ""] = devices
        _plan_interface(plan, section, devices, lab)
    for section in network.sections:
        if section.type == "route":
            _plan_route(plan, section)
    return plan


def interface_address(section: Section, lab: LabInfo) -> tuple[str, str | None] | None:
    """A logical interface's IPv4 address (a.b.c.d/len) and gateway: static, or the
    lease the lab's ISP hands out by DHCP/PPPoE; None when it gets none."""
    proto = opt(section, "proto")
    if proto == "static" and opt(section, "ipaddr"):
        address = f"{opt(section, 'ipaddr')}/{opt(section, 'netmask') or '255.255.255.255'}"
        return ipaddr_with_prefix(address), opt(section, "gateway")
    if proto in ("dhcp", "pppoe") and section.name in lab.dhcp:
        lease = lab.dhcp[section.name]
        return ipaddr_with_prefix(lease.address), lease.gateway
    return None


def _plan_interface(plan: NetworkPlan, section: Section, devices: list[str], lab: LabInfo) -> None:
    metric = int(opt(section, "metric") or 0)
    found = interface_address(section, lab)
    if found is None:
        return
    normal, gateway = found
    for device in devices:
        plan.addresses.setdefault(device, set()).add(normal)
    if gateway and devices:
        plan.routes.add(Route("0.0.0.0/0", devices[0], gateway, metric))


def _plan_route(plan: NetworkPlan, section: Section) -> None:
    devices = plan.devices.get(opt(section, "interface") or "", [])
    target = opt(section, "target")
    if not devices or target is None:
        return
    net = ipaddress.IPv4Network(
        f"{target}/{opt(section, 'netmask') or '255.255.255.255'}", strict=False
    )
    plan.routes.add(
        Route(str(net), devices[0], opt(section, "gateway"), int(opt(section, "metric") or 0))
    )


def ipaddr_with_prefix(address: str) -> str:
    return str(ipaddress.IPv4Interface(address))


def apply_network(plan: NetworkPlan, managed: list[str]) -> list[str]:
    """Make the kernel match `plan` on the `managed` devices; return what changed."""
    changes: list[str] = []
    current = current_addresses()
    for device in sorted(set(managed) | set(plan.addresses)):
        if device not in current:
            continue  # a device the lab did not create (e.g. a port on a real board only)
        want = plan.addresses.get(device, set())
        have = current[device]
        for extra in sorted(have - want):
            run(["ip", "addr", "del", extra, "dev", device])
            changes.append(f"{device}: -{extra}")
        for missing in sorted(want - have):
            run(["ip", "addr", "add", missing, "dev", device])
            changes.append(f"{device}: +{missing}")
    routes = _current_routes()
    wanted = {r for r in plan.routes if r.device in current}
    for route in sorted(routes - wanted):
        run(["ip", "route", "del", *_route_args(route)], check=False)
        changes.append(f"route -{route.target} dev {route.device}")
    for route in sorted(wanted - routes):
        run(["ip", "route", "replace", *_route_args(route), "proto", STATIC_PROTO])
        changes.append(f"route +{route.target} dev {route.device}")
    return changes


def _route_args(route: Route) -> list[str]:
    args = [route.target]
    if route.via:
        args += ["via", route.via]
    args += ["dev", route.device]
    if route.via:
        args.append("onlink")
    if route.metric:
        args += ["metric", str(route.metric)]
    return args


def current_addresses() -> dict[str, set[str]]:
    data = json.loads(run(["ip", "-j", "addr", "show"]).stdout or "[]")
    return {
        link["ifname"]: {
            f"{a['local']}/{a['prefixlen']}"
            for a in link.get("addr_info", [])
            if a.get("family") == "inet"
        }
        for link in data
    }


def _current_routes() -> set[Route]:
    data = json.loads(
        run(["ip", "-j", "-4", "route", "show", "proto", STATIC_PROTO]).stdout or "[]"
    )
    out = set()
    for entry in data:
        dst = entry.get("dst", "")
        target = "0.0.0.0/0" if dst == "default" else str(ipaddress.IPv4Network(dst))
        out.add(Route(target, entry["dev"], entry.get("gateway"), int(entry.get("metric", 0))))
    return out


def zone_devices(firewall: Package, plan: NetworkPlan) -> Mapping[str, list[str]]:
    """Each firewall zone's devices, from the networks it lists."""
    out: dict[str, list[str]] = {}
    for section in firewall.sections:
        if section.type != "zone":
            continue
        networks = section.options.get("network", [])
        names = [networks] if isinstance(networks, str) else networks
        zone = str(section.options.get("name"))
        out[zone] = sorted({d for n in names for d in plan.devices.get(n, [])})
    return out
