"""lab.shim.firewall: fw4's ruleset for the firewall meshkeeper renders, checked by real nft.

The `lab` tests need root: `nft -c` checks each golden ruleset against the
kernel without applying it, and a router/client namespace pair shows the
ruleset doing what the firewall renderer promises: SSH and the agent refused
from the LAN and open from the mesh, with the same listeners reachable before
the ruleset is loaded (the control).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from controller.uci import parse
from lab.shim.firewall import nft_ruleset

RENDER = Path(__file__).resolve().parent.parent / "fixtures" / "render"
NODES = sorted(p.name for p in RENDER.iterdir())
ZONE_DEVICES = {"lan": ["br-lan"], "mesh": ["wl1", "wl2"], "wan": ["wan"]}
NFT = "/usr/sbin/nft"


def _golden(node: str) -> str:
    text = (RENDER / node / "etc" / "config" / "firewall").read_text(encoding="utf-8")
    return nft_ruleset(parse(text, package="firewall", source=node), ZONE_DEVICES)


def _ruleset(text: str, zone_devices: dict[str, list[str]] | None = None) -> str:
    return nft_ruleset(parse(text, package="firewall"), zone_devices or ZONE_DEVICES)


def _chain(ruleset: str, name: str) -> list[str]:
    """The lines of one chain of the generated script."""
    lines = ruleset.splitlines()
    start = lines.index(f"\tchain {name} {{")
    end = lines.index("\t}", start)
    return [line.strip() for line in lines[start + 1 : end]]


_BASE = """
config defaults
\toption input 'REJECT'
\toption output 'ACCEPT'
\toption forward 'REJECT'
config zone 'lan'
\toption name 'lan'
\tlist network 'lan'
\toption input 'ACCEPT'
\toption output 'ACCEPT'
\toption forward 'ACCEPT'
config zone 'mesh'
\toption name 'mesh'
\toption input 'DROP'
\toption output 'ACCEPT'
\toption forward 'REJECT'
"""


# ---------------------------------------------------------------- the text


def test_golden_gateway_chains_follow_fw4() -> None:
    ruleset = _golden("gw-market")
    assert ruleset.startswith(
        "table inet meshkeeper {}\ndelete table inet meshkeeper\ntable inet meshkeeper {\n"
    )
    assert _chain(ruleset, "input_lan") == [
        'tcp dport 22 counter jump handle_reject comment "Block-ssh-from-LAN"',
        'tcp dport 9110 counter jump handle_reject comment "Block-agent-from-LAN"',
        "jump accept_from_lan",
    ]
    assert _chain(ruleset, "input_mesh") == [
        'tcp dport 22 counter accept comment "Allow-ssh-from-mesh"',
        'tcp dport 9110 counter accept comment "Allow-agent-from-mesh"',
        'meta l4proto { icmp, ipv6-icmp } counter accept comment "Allow-Ping-mesh"',
        'udp dport 6696 counter accept comment "Allow-Babel"',
        "jump reject_from_mesh",
    ]
    icmpv6 = "limit rate 1000/second counter accept"
    assert _chain(ruleset, "input_wan") == [
        'meta nfproto ipv4 udp dport 68 counter accept comment "Allow-DHCP-Renew"',
        'meta nfproto ipv4 icmp type 8 counter accept comment "Allow-Ping"',
        'meta nfproto ipv6 udp dport 546 counter accept comment "Allow-DHCPv6"',
        "ip6 saddr fe80::/10 icmpv6 type . icmpv6 code { 130 . 0, 131 . 0, 132 . 0, 143 . 0 }"
        ' counter accept comment "Allow-MLD"',
        "meta nfproto ipv6 icmpv6 type { 128, 129, 1, 2, 3, 133, 135, 134, 136 }"
        f' {icmpv6} comment "Allow-ICMPv6-Input"',
        "meta nfproto ipv6 icmpv6 type . icmpv6 code { 4 . 0, 4 . 1 }"
        f' {icmpv6} comment "Allow-ICMPv6-Input"',
        "jump reject_from_wan",
    ]
    assert _chain(ruleset, "forward_wan")[0].startswith(
        "meta nfproto ipv6 icmpv6 type { 128, 129, 1, 2, 3 } limit rate 1000/second"
    )
    assert _chain(ruleset, "forward_lan") == [
        'jump accept_to_mesh comment "Accept lan to mesh forwarding"',
        'jump accept_to_wan comment "Accept lan to wan forwarding"',
        "jump accept_to_lan",
    ]
    assert _chain(ruleset, "reject_from_mesh") == [
        'iifname { "wl1", "wl2" } counter jump handle_reject comment "reject mesh traffic"'
    ]
    assert _chain(ruleset, "srcnat_wan") == [
        'meta nfproto ipv4 masquerade comment "Masquerade IPv4 wan traffic"'
    ]
    assert _chain(ruleset, "accept_to_wan")[0].startswith(
        'meta nfproto ipv4 oifname "wan" ct state invalid counter drop'
    )
    assert any("jump syn_flood" in line for line in _chain(ruleset, "input"))
    assert _chain(ruleset, "input")[-1] == "jump handle_reject"  # defaults input REJECT


def test_relay_has_no_nat_and_no_wan() -> None:
    ruleset = _golden("relay-clinic")
    assert "srcnat" not in ruleset
    assert "mangle_forward" not in ruleset
    assert '"wan"' not in ruleset


def test_forward_policy_is_intra_zone_and_the_rest_falls_to_defaults() -> None:
    ruleset = _ruleset(_BASE)
    # mesh → mesh meets mesh's REJECT; mesh → lan (no forwarding) reaches the
    # end of the forward chain: the defaults' REJECT, as in fw3 and fw4.
    assert _chain(ruleset, "forward_mesh") == ["jump reject_to_mesh"]
    assert _chain(ruleset, "reject_to_mesh") == [
        'oifname { "wl1", "wl2" } counter jump handle_reject comment "reject mesh traffic"'
    ]
    assert _chain(ruleset, "forward")[-1] == "jump handle_reject"
    assert _chain(ruleset, "input_mesh") == ["jump drop_from_mesh"]
    assert _chain(ruleset, "handle_reject") == [
        'meta l4proto tcp reject with tcp reset comment "Reject TCP traffic"',
        'reject with icmpx type port-unreachable comment "Reject any other traffic"',
    ]


def test_rule_shapes_ports_families_icmp_and_directions() -> None:
    ruleset = _ruleset(
        _BASE
        + """
config rule
\toption src 'mesh'
\toption dest_port '80 443 8000-8080'
\toption target 'ACCEPT'
config rule 'ping6'
\toption src 'mesh'
\toption proto 'icmp'
\tlist icmp_type 'echo-request'
\tlist icmp_type 'neighbour-solicitation'
\toption target 'accept'
config rule 'v6only'
\toption src 'lan'
\toption dest 'mesh'
\toption proto 'all'
\toption family 'ipv6'
\toption target 'DROP'
config rule 'out'
\toption dest 'lan'
\toption proto 'udp'
\toption dest_port '53'
\toption target 'REJECT'
config rule 'off'
\toption src 'lan'
\toption enabled '0'
\toption target 'DROP'
"""
    )
    assert _chain(ruleset, "input_mesh") == [
        'tcp dport { 80, 443, 8000-8080 } counter accept comment "firewall.@rule[0]"',
        'udp dport { 80, 443, 8000-8080 } counter accept comment "firewall.@rule[0]"',
        'meta nfproto ipv4 icmp type 8 counter accept comment "firewall.ping6"',
        'meta nfproto ipv6 icmpv6 type { 128, 135 } counter accept comment "firewall.ping6"',
        "jump drop_from_mesh",
    ]
    assert _chain(ruleset, "forward_lan")[0] == (
        'meta nfproto ipv6 counter jump drop_to_mesh comment "firewall.v6only"'
    )
    assert _chain(ruleset, "drop_to_mesh") == [
        'oifname { "wl1", "wl2" } counter drop comment "drop mesh traffic"'
    ]
    assert _chain(ruleset, "output_lan")[0] == (
        'udp dport 53 counter jump reject_to_lan comment "firewall.out"'
    )
    assert "firewall.off" not in ruleset


def test_zone_without_devices_gets_no_jumps() -> None:
    ruleset = _ruleset(_BASE, {"lan": ["br-lan"]})
    assert not any("input_mesh" in line for line in _chain(ruleset, "input"))
    assert _chain(ruleset, "drop_from_mesh") == []


def _section(kind: str, label: str | None = None, /, **options: str) -> str:
    head = f"config {kind}" + (f" '{label}'" if label else "")
    return head + "\n" + "".join(f"\toption {k} '{v}'\n" for k, v in options.items())


_DROP = {"target": "DROP"}
NOT_EMULATED = [
    (_section("redirect", "r", src="lan"), "firewall.r: section type 'redirect'"),
    (_section("rule", "r", limit="1/fortnight", **_DROP), "firewall.r: limit '1/fortnight'"),
    (_section("rule", "r", src_ip="!10.0.0.0/8", **_DROP), "firewall.r: src_ip '!10.0.0.0/8'"),
    (_section("rule", "r", dest_ip="10.0.0.1", **_DROP), "firewall.r: option 'dest_ip'"),
    (_section("rule", "r", src="lan", target="MARK"), "firewall.r: target 'MARK'"),
    (_section("rule", "r", src="lan"), "firewall.r: target None"),
    (_section("rule", "r", src="dmz", **_DROP), "firewall.r: src 'dmz' is not a zone"),
    (_section("rule", proto="gre", **_DROP), "firewall.@rule[0]: protocol 'gre'"),
    (_section("rule", "r", dest_port="!22", **_DROP), "firewall.r: dest_port '!22'"),
    (_section("rule", "r", dest_port="9-8", **_DROP), "firewall.r: dest_port '9-8'"),
    (
        _section("rule", "r", proto="icmp", icmp_type="bogus-unreachable", **_DROP),
        "firewall.r: ICMP type 'bogus-unreachable'",
    ),
    (
        _section("rule", "r", proto="icmp", icmp_type="packet-too-big", family="ipv4", **_DROP),
        "firewall.r: no ICMP type",
    ),
    (_section("rule", "r", family="inet", **_DROP), "firewall.r: family 'inet'"),
    (_section("zone", "z", name="lan"), "firewall.z: a second zone"),
    (_section("zone", "z", name="x", masq="maybe"), "firewall.z: option 'masq' is 'maybe'"),
    (_section("zone", "z", name="x", device="eth0"), "firewall.z: option 'device'"),
    (_section("forwarding", "f", src="lan"), "firewall.f: a forwarding needs"),
    (_section("defaults", "d"), "firewall.d: a second defaults"),
]


def test_addresses_icmp_codes_and_limits_follow_fw4() -> None:
    """fw4's parse_rule: with no family set, addresses decide it; a host address is
    written bare; ICMP type/code pairs get a rule of their own, per family."""
    host = _section("rule", "a", src="lan", src_ip="fd00::1", proto="tcp", dest_port="22", **_DROP)
    icmp = _section(
        "rule", "b", src="lan", proto="icmp", icmp_type="3/1 ping", limit="5/min", **_DROP
    )
    ruleset = _ruleset(_BASE + host + icmp + "\toption limit_burst '9'\n")
    limit = "limit rate 5/minute burst 9 packets counter drop"
    assert _chain(ruleset, "input_lan")[:-1] == [
        'ip6 saddr fd00::1 tcp dport 22 counter drop comment "firewall.a"',
        f'meta nfproto ipv4 icmp type 8 {limit} comment "firewall.b"',
        f'meta nfproto ipv4 icmp type . icmp code 3 . 1 {limit} comment "firewall.b"',
        f'meta nfproto ipv6 icmpv6 type 128 {limit} comment "firewall.b"',
        f'meta nfproto ipv6 icmpv6 type . icmpv6 code 3 . 1 {limit} comment "firewall.b"',
    ]


@pytest.mark.parametrize(("extra", "message"), NOT_EMULATED)
def test_what_the_lab_does_not_emulate_fails_naming_the_section(extra: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        _ruleset(_BASE + extra)


@pytest.mark.parametrize("device", ['br"lan', "br\x00lan", "br\x1blan", "br\x7f", "a" * 16, ""])
def test_bad_names_are_refused(device: str) -> None:
    with pytest.raises(ValueError, match="table name"):
        nft_ruleset(parse(_BASE, package="firewall"), ZONE_DEVICES, table="x y")
    with pytest.raises(ValueError, match="not a Linux interface name"):
        _ruleset(_BASE, {"lan": [device]})


# ---------------------------------------------------------------- real nft

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: nft and namespaces")


@pytest.mark.lab
@needs_root
@pytest.mark.parametrize("node", NODES)
def test_nft_accepts_the_golden_ruleset(node: str) -> None:
    # -c: the kernel checks the whole transaction, then it is discarded.
    result = subprocess.run(
        [NFT, "-c", "-f", "-"], input=_golden(node), capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 0, result.stderr


_serial = itertools.count()
ROUTER_LAN, CLIENT_LAN = "192.0.2.1", "192.0.2.2"  # TEST-NET-1, only inside the namespaces
ROUTER_MESH, CLIENT_MESH = "192.0.2.129", "192.0.2.130"
TCP_PORTS = (22, 9110, 8080)  # SSH, the agent, anything else
UDP_PORTS = (6696, 5000)  # babel, anything else

_SERVER = f"""
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in {TCP_PORTS!r}:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen()
    sel.register(s, selectors.EVENT_READ, "tcp")
for port in {UDP_PORTS!r}:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    sel.register(s, selectors.EVENT_READ, "udp")
print("ready", flush=True)
while True:
    for key, _ in sel.select(timeout=30):
        if key.data == "tcp":
            key.fileobj.accept()[0].close()
        else:
            data, peer = key.fileobj.recvfrom(64)
            key.fileobj.sendto(data, peer)
"""

_CLIENT = f"""
import json, socket, sys
def tcp(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return type(exc).__name__
def udp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.connect((host, port))
    try:
        s.send(b"x")
        return "open" if s.recv(64) == b"x" else "garbled"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return type(exc).__name__
out = {{}}
for side, host in (("lan", {ROUTER_LAN!r}), ("mesh", {ROUTER_MESH!r})):
    for port in {TCP_PORTS!r}:
        out[f"{{side}} tcp {{port}}"] = tcp(host, port)
    for port in {UDP_PORTS!r}:
        out[f"{{side}} udp {{port}}"] = udp(host, port)
print(json.dumps(out))
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextmanager
def router_and_client() -> Iterator[tuple[str, str]]:
    """Two namespaces: a router with br-lan and wl1, a client cabled to each of them."""
    tag = f"{os.getpid()}-{next(_serial)}"
    router, client = f"t-shim-r-{tag}", f"t-shim-c-{tag}"
    _ip("netns", "add", router)
    try:
        _ip("netns", "add", client)
        for ns in (router, client):
            _ip("-n", ns, "link", "set", "lo", "up")
        for device, peer, router_addr, client_addr in (
            ("br-lan", "c-lan", ROUTER_LAN, CLIENT_LAN),
            ("wl1", "c-mesh", ROUTER_MESH, CLIENT_MESH),
        ):
            _ip("-n", router, "link", "add", device, "type", "veth", "peer", "name", peer)
            _ip("-n", router, "link", "set", peer, "netns", client)
            _ip("-n", router, "addr", "add", f"{router_addr}/25", "dev", device)
            _ip("-n", client, "addr", "add", f"{client_addr}/25", "dev", peer)
            _ip("-n", router, "link", "set", device, "up")
            _ip("-n", client, "link", "set", peer, "up")
        yield router, client
    finally:
        for ns in (client, router):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def _probe(client: str) -> dict[str, str]:
    result = subprocess.run(
        ["ip", "netns", "exec", client, sys.executable, "-c", _CLIENT],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    answer: dict[str, str] = json.loads(result.stdout)
    return answer


def _load(router: str, ruleset: str) -> None:
    subprocess.run(
        ["ip", "netns", "exec", router, NFT, "-f", "-"],
        input=ruleset,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )


@pytest.mark.lab
@needs_root
@pytest.mark.parametrize("node", ["gw-market", "relay-clinic"])
def test_ruleset_refuses_admin_ports_from_the_lan_and_opens_them_to_the_mesh(node: str) -> None:
    with (
        router_and_client() as (router, client),
        subprocess.Popen(
            ["ip", "netns", "exec", router, sys.executable, "-c", _SERVER],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as server,
    ):
        try:
            assert server.stdout is not None
            assert server.stdout.readline() == "ready\n"
            control = _probe(client)
            ruleset = _golden(node)
            _load(router, ruleset)
            _load(router, ruleset)  # the delete-and-recreate makes a reload safe
            behind_firewall = _probe(client)
        finally:
            server.kill()
    assert set(control.values()) == {"open"}, control
    assert behind_firewall == {
        "lan tcp 22": "refused",  # Block-ssh-from-LAN: tcp reset
        "lan tcp 9110": "refused",  # Block-agent-from-LAN
        "lan tcp 8080": "open",  # lan input ACCEPT
        "lan udp 6696": "open",
        "lan udp 5000": "open",
        "mesh tcp 22": "open",  # Allow-ssh-from-mesh
        "mesh tcp 9110": "open",  # Allow-agent-from-mesh
        "mesh tcp 8080": "refused",  # mesh input REJECT: tcp reset
        "mesh udp 6696": "open",  # Allow-Babel
        "mesh udp 5000": "refused",  # REJECT: ICMP port-unreachable, not a silent drop
    }
