"""Every cross-reference inside a node's config must hold.

A zone naming a network that does not exist, a wifi-iface on a missing
radio, a batadv_hardif whose master is not a batadv interface: OpenWrt
accepts the file and then silently does the wrong thing. Renderer bugs of
this kind are caught here, before anything is written.
"""

from __future__ import annotations

from controller.errors import MeshkeeperError
from controller.uci import Package


def _named(pkg: Package | None, type_: str) -> dict[str, dict[str, str | list[str]]]:
    if pkg is None:
        return {}
    return {s.name: s.options for s in pkg.sections if s.type == type_ and s.name}


def reference_problems(packages: dict[str, Package]) -> list[str]:
    interfaces = _named(packages.get("network"), "interface")
    radios = _named(packages.get("wireless"), "wifi-device")
    problems = []
    firewall = packages.get("firewall")
    zones = set()
    for sec in firewall.sections if firewall else []:
        if sec.type == "zone":
            zones.add(str(sec.options.get("name")))
            networks = sec.options.get("network", [])
            for net in [networks] if isinstance(networks, str) else networks:
                if net not in interfaces:
                    problems.append(f"firewall zone {sec.name} names missing network {net!r}")
    zones.add("*")  # any zone (a rule's `dest '*'`)
    for sec in firewall.sections if firewall else []:
        for key in ("src", "dest"):
            zone = sec.options.get(key)
            if sec.type in ("forwarding", "rule") and zone is not None and zone not in zones:
                problems.append(f"firewall {sec.type} {sec.name} names missing zone {zone!r}")
    wireless = packages.get("wireless")
    for sec in wireless.sections if wireless else []:
        if sec.type == "wifi-iface":
            if sec.options.get("device") not in radios:
                problems.append(
                    f"wifi-iface {sec.name} is on missing radio {sec.options.get('device')!r}"
                )
            if sec.options.get("network") not in interfaces:
                problems.append(
                    f"wifi-iface {sec.name} joins missing network {sec.options.get('network')!r}"
                )
    for name, options in interfaces.items():
        device = options.get("device", options.get("ifname"))
        if isinstance(device, str) and device.startswith("@") and device[1:] not in interfaces:
            problems.append(f"interface {name} is an alias of missing interface {device[1:]!r}")
        if options.get("proto") == "batadv_hardif":
            master = options.get("master")
            if not isinstance(master, str) or interfaces.get(master, {}).get("proto") != "batadv":
                problems.append(f"batadv_hardif {name} has no batadv master {master!r}")
    dhcp = packages.get("dhcp")
    for sec in dhcp.sections if dhcp else []:
        if sec.type == "dhcp" and sec.options.get("interface") not in interfaces:
            problems.append(
                f"dhcp {sec.name} serves missing interface {sec.options.get('interface')!r}"
            )
    dropbear = packages.get("dropbear")
    for sec in dropbear.sections if dropbear else []:
        if "Interface" in sec.options and sec.options["Interface"] not in interfaces:
            problems.append(
                f"dropbear {sec.name} listens on missing interface {sec.options.get('Interface')!r}"
            )
    return problems


def check_references(node: str, packages: dict[str, Package]) -> None:
    problems = reference_problems(packages)
    if problems:
        raise MeshkeeperError(
            f"node {node}: rendered config is inconsistent (a meshkeeper bug, "
            f"please report it): {'; '.join(problems)}"
        )
