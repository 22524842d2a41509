"""The peer side of bench/render.py: netjsonconfig rendering one mesh node.

    bench/.venv/bin/python bench/netjson_device.py [--runs 200] [--smoke]

Runs in the bench venv only (netjsonconfig is not a meshkeeper dependency).
Prints one JSON object: median ms per device with validation (`render()`
always validates) and without it (validation patched out on the instance,
as netjsonconfig has no switch for it), plus what the device rendered to.

The device mirrors gw-market of the example inventory, a gateway with the
most packages; see `device()` for what is and is not equivalent.
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import json
import statistics
import time
from typing import Any

from netjsonconfig import OpenWrt

MESH_KEY = "riverside-lab-mesh-key-2026"
ADMIN_PORTS = (("ssh", 22), ("agent", 9110))


def device() -> dict[str, Any]:
    """A NetJSON DeviceConfiguration equivalent to one of our gateway nodes.

    Covered natively (schema-validated, converted by netjsonconfig):
      general (hostname, timezone -> zonename + POSIX TZ), ntp (servers),
      interfaces loopback, br-lan bridge (2 ports) with a static /24, wan
      dhcp, the 802.11s mesh iface carrying the static /32 (SAE key), an
      open AP and a psk2 AP on both radios; radios 2g + 5g with channel, width, country
      and txpower.
    Covered as netjsonconfig "extra packages" (lists of UCI sections, not
      validated beyond being lists of dicts): firewall (defaults, 3 zones,
      4 forwardings, 8 rules), dhcp (dnsmasq + lan + wan), babeld (general,
      interface, 5 filters), dropbear; and, as `files`, authorized_keys and
      agent.json (their text is given, not computed).
    Section for section this is gw-market's 43 but for the three it has as
      the NOC's entry node (interface noc, route noc_host, babel filter
      redistribute_noc): 40. Its LAN bridge has two ports (gw-market's one).
    Not equivalent: netjsonconfig computes nothing mesh-wide (addresses,
      neighbours, resolvers, probe targets are literals here, where
      meshkeeper derives them from the whole inventory), checks no
      cross-references between packages, leaves the extra packages
      unchecked, and gets a short agent.json (ours lists every probe target:
      5.6 kB of output here against 8.8 kB for gw-market).
    """
    return {
        "general": {
            "hostname": "gw-market",
            "timezone": "Africa/Nairobi",
            "log_size": 64,
            "ttylogin": "0",
            "urandom_seed": "0",
        },
        "ntp": {"enabled": True, "enable_server": False, "server": ["ntp.exchange.test"]},
        "interfaces": _interfaces(),
        "radios": _radios(),
        "firewall": _firewall(),
        "dhcp": _dhcp(),
        "babeld": _babeld(),
        "dropbear": [
            {
                "config_name": "dropbear",
                "config_value": "mesh",
                "PasswordAuth": "off",
                "RootPasswordAuth": "off",
                "RootLogin": "1",
                "Port": "22",
                "Interface": "mesh",
            }
        ],
        "files": _files(),
    }


def _interfaces() -> list[dict[str, Any]]:
    return [
        {"name": "lo", "type": "loopback", "addresses": [_static("127.0.0.1", 8)]},
        {
            "name": "lan",
            "type": "bridge",
            "bridge_members": ["lan1", "lan2"],
            "addresses": [_static("10.32.1.1", 24)],
        },
        {"name": "wan", "type": "ethernet", "addresses": [{"proto": "dhcp", "family": "ipv4"}]},
        {
            "name": "mesh0",
            "network": "mesh",
            "type": "wireless",
            "addresses": [_static("10.31.0.1", 32)],
            "wireless": {
                "radio": "radio1",
                "mode": "802.11s",
                "network": ["mesh"],
                "mesh_id": "riverside-mesh",
                "encryption": {
                    "protocol": "wpa3_personal",
                    "key": MESH_KEY,
                    "cipher": "ccmp",
                    "ieee80211w": "2",
                },
            },
        },
        _ap("ap0_radio0", "radio0", "Riverside Free", None, isolate=True),
        _ap("ap1_radio0", "radio0", "Riverside Staff", "staff-wifi-passphrase"),
        _ap("ap1_radio1", "radio1", "Riverside Staff", "staff-wifi-passphrase"),
    ]


def _static(address: str, mask: int) -> dict[str, Any]:
    return {"proto": "static", "family": "ipv4", "address": address, "mask": mask}


def _ap(
    name: str, radio: str, ssid: str, key: str | None, *, isolate: bool = False
) -> dict[str, Any]:
    encryption: dict[str, Any] = (
        {"protocol": "wpa2_personal", "key": key, "cipher": "auto"} if key else {"protocol": "none"}
    )
    return {
        "name": name,
        "type": "wireless",
        "network": "lan",
        "wireless": {
            "radio": radio,
            "mode": "access_point",
            "network": ["lan"],
            "ssid": ssid,
            "isolate": isolate,
            "encryption": encryption,
        },
    }


def _radios() -> list[dict[str, Any]]:
    common = {"driver": "mac80211", "country": "KE"}
    return [
        {
            "name": "radio0",
            "protocol": "802.11n",
            "channel": 6,
            "channel_width": 20,
            "tx_power": 20,
            **common,
        },
        {
            "name": "radio1",
            "protocol": "802.11ac",
            "channel": 36,
            "channel_width": 40,
            "tx_power": 23,
            **common,
        },
    ]


def _uci(type_: str, section: str | None = None, /, **options: Any) -> dict[str, Any]:
    """One UCI section as an extra-package block (`config_value` is its name)."""
    block: dict[str, Any] = {"config_name": type_, **options}
    if section is not None:
        block["config_value"] = section
    return block


def _firewall() -> list[dict[str, Any]]:
    blocks = [
        _uci("defaults", syn_flood="1", input="REJECT", output="ACCEPT", forward="REJECT"),
        _uci("zone", "lan", name="lan", network=["lan"], input="ACCEPT", forward="ACCEPT"),
        _uci("zone", "mesh", name="mesh", network=["mesh"], input="REJECT", forward="ACCEPT"),
        _uci("zone", "wan", name="wan", network=["wan"], input="REJECT", masq="1", mtu_fix="1"),
    ]
    for src, dest in (("lan", "mesh"), ("mesh", "lan"), ("lan", "wan"), ("mesh", "wan")):
        blocks.append(_uci("forwarding", f"{src}_{dest}", src=src, dest=dest))
    for what, port in ADMIN_PORTS:
        blocks.append(
            _uci("rule", f"block_{what}", src="lan", proto="tcp", dest_port=str(port))
            | {"target": "REJECT"}
        )
        blocks.append(
            _uci("rule", f"allow_{what}", src="mesh", proto="tcp", dest_port=str(port))
            | {"target": "ACCEPT"}
        )
    blocks += [
        _uci("rule", "allow_ping_mesh", src="mesh", proto="icmp", target="ACCEPT"),
        _uci("rule", "allow_babel", src="mesh", proto="udp", dest_port="6696", target="ACCEPT"),
        _uci("rule", "allow_dhcp_renew", src="wan", proto="udp", dest_port="68", target="ACCEPT"),
        _uci("rule", "allow_ping_wan", src="wan", proto="icmp", icmp_type="echo-request"),
    ]
    return blocks


def _dhcp() -> list[dict[str, Any]]:
    return [
        _uci(
            "dnsmasq",
            domainneeded="1",
            localise_queries="1",
            rebind_protection="1",
            local="/lan/",
            domain="lan",
            expandhosts="1",
            authoritative="1",
            # Paths on the router, as controller/render/dhcp.py writes them, not opened here.
            leasefile="/tmp/dhcp.leases",  # noqa: S108
            resolvfile="/tmp/resolv.conf.d/resolv.conf.auto",  # noqa: S108
            localservice="1",
        ),
        _uci("dhcp", "lan", interface="lan", start="100", limit="150", leasetime="12h"),
        _uci("dhcp", "wan", interface="wan", ignore="1"),
    ]


def _babeld() -> list[dict[str, Any]]:
    filters = [
        ("redistribute_lan", "10.32.1.0/24", "24", "allow"),
        ("redistribute_mesh_address", "10.31.0.1/32", "32", "allow"),
        ("redistribute_default", "0.0.0.0/0", "0", "metric 128"),
    ]
    return [
        _uci("general", "general", ipv6_subtrees="true", local_port_readonly="33123"),
        _uci("interface", "mesh0", ifname="mesh0", type="wireless"),
        *(
            _uci("filter", name, type="redistribute", ip=ip, eq=eq, action=action)
            for name, ip, eq, action in filters
        ),
        _uci("filter", "deny_other_local", type="redistribute", local="true", action="deny"),
        _uci("filter", "deny_other", type="redistribute", action="deny"),
    ]


def _files() -> list[dict[str, Any]]:
    agent = {
        "version": 1,
        "node": "gw-market",
        "listen": {"address": "10.31.0.1", "port": 9110},
        "neighbours": [{"name": "gw-school", "address": "10.31.0.2", "medium": "wifi"}],
    }
    return [
        {
            "path": "/etc/dropbear/authorized_keys",
            "mode": "0600",
            "contents": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench bench\n",
        },
        {
            "path": "/etc/meshkeeper/agent.json",
            "mode": "0644",
            "contents": json.dumps(agent, indent=2, sort_keys=True) + "\n",
        },
    ]


def render_once(config: dict[str, Any], *, validate: bool) -> str:
    backend = OpenWrt(copy.deepcopy(config))
    if not validate:
        backend.validate = lambda: None  # type: ignore[method-assign]
    return str(backend.render())


def median_ms(config: dict[str, Any], runs: int, *, validate: bool) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        render_once(config, validate=validate)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--show", action="store_true", help="print the rendered UCI and exit")
    parser.add_argument("--smoke", action="store_true", help="3 runs: does it run?")
    args = parser.parse_args()
    if args.smoke:
        args.runs = 3
    config = device()
    output = render_once(config, validate=True)
    if args.show:
        print(output)
        return
    render_once(config, validate=False)  # warm both paths before timing
    lines = output.splitlines()
    result = {
        "version": importlib.metadata.version("netjsonconfig"),
        "validated_ms": median_ms(config, args.runs, validate=True),
        "unvalidated_ms": median_ms(config, args.runs, validate=False),
        "runs": args.runs,
        "packages": sum(1 for line in lines if line.startswith("package ")),
        "sections": sum(1 for line in lines if line.startswith("config ")),
        "bytes": len(output.encode("utf-8")),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
