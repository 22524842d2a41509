"""Each UCI interface's state as netifd reports it (`ubus call network.interface dump`).

The lab has no netifd: an interface's state is read back from what the lab's
network shim actually configured. It is available when one of its devices
exists, up when available (DHCP/PPPoE: when it also holds its lease), and its
IPv4 addresses are the ones the shim put on its devices. dropbear's `option
Interface` and the ubus shim both read this, so they agree with each other and
with the kernel.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from controller.uci import Package, Section
from lab.host import LabError
from lab.shim.config import read_package
from lab.shim.labinfo import LabInfo
from lab.shim.network import current_addresses, interface_address, interface_devices, opt

LEASED = ("dhcp", "pppoe", "dhcpv6")  # up only with a lease (the lab's ISPs give no IPv6)
ANY = str(ipaddress.IPv4Address(0))  # netifd's "no next hop", and the default route's target


@dataclass(frozen=True)
class IfRoute:
    target: str
    mask: int
    nexthop: str
    source: str


@dataclass(frozen=True)
class InterfaceState:
    name: str
    proto: str
    device: str | None  # `option device` (or `ifname`), as netifd shows it
    present: tuple[str, ...]  # its devices that exist in the router
    addresses: tuple[str, ...]  # a.b.c.d/len, as on those devices
    routes: tuple[IfRoute, ...]
    autostart: bool
    metric: int

    @property
    def available(self) -> bool:
        return bool(self.present)

    @property
    def up(self) -> bool:
        return self.available and (self.proto not in LEASED or bool(self.addresses))


def interface_states(
    network: Package,
    wireless: Package | None,
    lab: LabInfo,
    kernel: Mapping[str, set[str]],
) -> list[InterfaceState]:
    """Every `config interface`, sorted by name as netifd lists them.

    `kernel`: each device that exists → its IPv4 addresses (a.b.c.d/len).
    """
    states = [
        _state(network, wireless, lab, kernel, section)
        for section in network.sections
        if section.type == "interface" and section.name
    ]
    return sorted(states, key=lambda s: s.name)


def _state(
    network: Package,
    wireless: Package | None,
    lab: LabInfo,
    kernel: Mapping[str, set[str]],
    section: Section,
) -> InterfaceState:
    try:
        devices = interface_devices(network, wireless, lab, section)
    except LabError:  # batman-adv: no such device in the lab
        devices = []
    present = tuple(d for d in devices if d in kernel)
    planned = interface_address(section, lab)
    on_device = planned is not None and any(planned[0] in kernel[d] for d in present)
    addresses = (planned[0],) if planned is not None and on_device else ()
    proto = opt(section, "proto") or "none"
    return InterfaceState(
        name=section.name or "",
        proto=proto,
        device=opt(section, "device") or opt(section, "ifname"),
        present=present,
        addresses=addresses,
        routes=_routes(network, section, planned, dynamic=proto in LEASED) if addresses else (),
        autostart=opt(section, "auto") not in ("0", "false", "off", "no"),
        metric=int(opt(section, "metric") or 0),
    )


def _routes(
    network: Package, section: Section, planned: tuple[str, str | None] | None, *, dynamic: bool
) -> tuple[IfRoute, ...]:
    """netifd's order: the `config route` sections of this interface, then its gateway."""
    out = []
    for route in network.sections:
        target = opt(route, "target")
        if route.type != "route" or opt(route, "interface") != section.name or target is None:
            continue
        net = ipaddress.IPv4Network(
            f"{target}/{opt(route, 'netmask') or '255.255.255.255'}", strict=False
        )
        nexthop = opt(route, "gateway") or ANY
        out.append(IfRoute(str(net.network_address), net.prefixlen, nexthop, f"{ANY}/0"))
    if planned is not None and planned[1]:
        # a DHCP lease's default route is sourced from the leased address
        source = f"{planned[0].split('/')[0]}/32" if dynamic else f"{ANY}/0"
        out.append(IfRoute(ANY, 0, planned[1], source))
    return tuple(out)


def addresses_by_interface(states: list[InterfaceState]) -> dict[str, list[str]]:
    """What /lib/functions/network.sh's network_get_ipaddrs_all gives for each interface."""
    return {s.name: [a.split("/")[0] for a in s.addresses] for s in states if s.up}


def read_states(lab: LabInfo) -> list[InterfaceState]:
    """The router's interfaces now (UciError if network or wireless cannot be read:
    the lab cannot know netifd's last good state, so callers leave things as they were)."""
    network = read_package("network") or Package("network")
    return interface_states(network, read_package("wireless"), lab, current_addresses())
