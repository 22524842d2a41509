"""lab.shim.babeld_conf: babeld.conf as OpenWrt's babeld.init writes it, checked by real babeld.

The expected texts were worked out by hand from babeld.init (openwrt/routing
@ 13b7a3d): filter lines start with a space and have two before the action
(babel_filter() appends its type and action with an empty switch), interface
lines come last. The `lab` tests then run Debian's babeld 1.12.1 on them in a
throwaway network namespace and read its local socket.
"""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from controller.uci import parse
from lab.shim.babeld_conf import babeld_conf

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RENDER = FIXTURES / "render"
BABELD = "/usr/sbin/babeld"
LOCAL_PORT = 33123  # the rendered local_port

# What the lab resolves: the 802.11s interface is one veth per mesh link.
MESH_DEVICES = ("wl1", "wl2")


def lab_devices(name: str) -> list[str]:
    return list(MESH_DEVICES) if name == "mesh0" else [name]


def _expected(*redistribute: str) -> str:
    allowed = "".join(f" redistribute {r}\n" for r in redistribute)
    return (
        "ipv6-subtrees true\n"
        "local-port 33123\n"
        f"{allowed}"
        " redistribute local  deny\n"
        " redistribute  deny\n"
        "interface wl1 type wireless\n"
        "interface wl2 type wireless\n"
    )


def _own(lan: str, mesh_address: str) -> tuple[str, str]:
    return f"ip {lan} eq 24  allow", f"local ip {mesh_address}/32 eq 32  allow"


_DEFAULT_ROUTE = ("ip 0.0.0.0/0 eq 0  metric 128", "ip 0.0.0.0/0 eq 0 proto 3  metric 128")

EXPECTED = {
    "gw-market": _expected(
        *_own("10.32.1.0/24", "10.31.0.1"),
        "ip 10.31.255.250/32 eq 32  allow",
        *_DEFAULT_ROUTE,
    ),
    "gw-school": _expected(*_own("10.32.2.0/24", "10.31.0.2"), *_DEFAULT_ROUTE),
    "leaf-bus-stop": _expected(*_own("10.32.5.0/24", "10.31.0.5")),
    "leaf-hillside": _expected(*_own("10.51.161.0/24", "10.31.19.161")),
    "leaf-library": _expected(*_own("10.32.6.0/24", "10.31.0.6")),
    "leaf-riverbank": _expected(*_own("10.32.7.0/24", "10.31.0.7")),
    "relay-clinic": _expected(*_own("10.32.3.0/24", "10.31.0.3")),
    "relay-water-tower": _expected(*_own("10.32.4.0/24", "10.31.0.4")),
}


def _golden(node: str) -> str:
    text = (RENDER / node / "etc" / "config" / "babeld").read_text(encoding="utf-8")
    return babeld_conf(parse(text, package="babeld", source=node), lab_devices)


def _conf(text: str) -> str:
    return babeld_conf(parse(text, package="babeld"), lab_devices)


def test_every_golden_node_is_covered() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in RENDER.iterdir())


@pytest.mark.parametrize("node", sorted(EXPECTED))
def test_golden_babeld_translates_as_the_init_script_does(node: str) -> None:
    assert _golden(node) == EXPECTED[node]


def test_shipped_default_has_everything_ignored() -> None:
    text = (FIXTURES / "uci" / "openwrt-routing__babeld").read_text(encoding="utf-8")
    # Both example interfaces and all three filters are ignored; the ifname-less
    # interface section comes after an ignored one, so it adds nothing.
    assert _conf(text) == "ipv6-subtrees true\n"


def test_battlemesh_config_shows_the_ifname_less_section_quirk() -> None:
    # A real event-mesh config: its ifname-less "default" section hands its
    # option to the previous section's line (eth0.2), and the interface lines
    # come out sorted by device, not in file order.
    text = (FIXTURES / "uci" / "battlemesh-v8__babeld").read_text(encoding="utf-8")
    assert _conf(text) == (
        "log-file /var/log/babeld.log\n"
        "ipv6-subtrees true\n"
        "diversity 3\n"
        " redistribute  allow\n"
        "interface eth0.1\n"
        "interface eth0.2 enable-timestamps true\n"
        "interface wlan0\n"
        "interface wlan1\n"
    )


def test_ifname_less_section_is_logged_and_its_options_follow_the_general_section(
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = """
config general
\toption random_id 'true'
config interface
\toption update_interval '30'
"""
    with caplog.at_level(logging.WARNING, logger="lab.shim.babeld_conf"):
        assert _conf(text) == "random-id true\nupdate-interval 30\n"
    assert caplog.messages == ["Ignoring interface section which miss ifname"]


def test_general_options_lists_and_skipped_names() -> None:
    text = """
config general
\toption conf_file '/etc/babeld.conf'
\toption conf_dir '/tmp/babel.d/'
\tlist import_table '42'
\tlist import_table '100'
\toption foo_ITEMS 'x'
\toption smoothing_half_life '4'
"""
    assert _conf(text) == "import-table 42\nimport-table 100\nsmoothing-half-life 4\n"


def test_interface_options_ignore_default_and_order() -> None:
    text = """
config interface
\toption ifname 'zz0'
\toption ignore '0'
\toption hello_interval '1'
config interface
\toption ifname 'aa0'
\toption ignore 'yes'
config interface
\toption ifname 'default'
\toption split_horizon 'true'
config interface
\toption ifname 'mesh0'
\tlist channel '1'
\tlist channel '6'
config interface
\toption ifname 'wl2'
\toption type 'wired'
"""
    assert _conf(text) == (
        "default split-horizon true\n"
        "interface wl1 channel 1 channel 6\n"
        "interface wl2 type wired\n"  # a later section for wl2 replaces mesh0's line
        "interface zz0 ignore 0 hello-interval 1\n"
    )


def test_interface_with_no_device_adds_no_line() -> None:
    text = "config interface\n\toption ifname 'gone'\n\toption type 'wired'\n"
    assert babeld_conf(parse(text, package="babeld"), lambda _: []) == ""


def test_filter_selectors_in_babel_filter_order_and_if_per_device() -> None:
    text = """
config filter
\toption action 'metric 256'
\toption if 'mesh0'
\toption proto '4'
\tlist ip '10.0.0.0/8'
\toption src_ip '::/0'
\toption local 'enabled'
\toption type 'in'
\toption le '24'
\toption neigh 'fe80::1'
config filter
\toption local 'maybe'
\toption ip '192.0.2.0/24'
config filter
\toption ignore 'on'
\toption type 'out'
"""
    assert _conf(text) == (
        " in local ip 10.0.0.0/8 le 24 src-ip ::/0 neigh fe80::1 proto 4 if wl1  metric 256\n"
        " in local ip 10.0.0.0/8 le 24 src-ip ::/0 neigh fe80::1 proto 4 if wl2  metric 256\n"
        "ip 192.0.2.0/24\n"
    )


# ---------------------------------------------------------------- real babeld

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")
_serial = itertools.count()

# Runs inside the namespace: reads babeld's local socket, prints the `dump`.
_DUMP = f"""
import socket, sys, time
deadline = time.monotonic() + 5
while True:
    try:
        s = socket.create_connection(("::1", {LOCAL_PORT}), timeout=2)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("babeld's local socket never opened")
        time.sleep(0.02)
s.sendall(b"dump\\n")
data = b""
while data.count(b"\\nok\\n") < 2:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode())
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextmanager
def namespace(devices: Sequence[str]) -> Iterator[str]:
    """A throwaway namespace with `lo` up and one veth per device (its peer stays inside)."""
    name = f"t-shim-{os.getpid()}-{next(_serial)}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        for index, device in enumerate(devices):
            peer = f"peer{index}"
            _ip("-n", name, "link", "add", device, "type", "veth", "peer", "name", peer)
            _ip("-n", name, "link", "set", device, "up")
            _ip("-n", name, "link", "set", peer, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def run_babeld(ns: str, conf: str, tmp_path: Path, *extra: str) -> str:
    """Start babeld on `conf` in `ns`, return its `dump`; fail if it exits."""
    path = tmp_path / "babeld.conf"
    path.write_text(conf, encoding="utf-8")
    argv = [BABELD, "-I", str(tmp_path / "pid"), "-S", str(tmp_path / "state")]
    argv += ["-c", str(path), *extra]
    with subprocess.Popen(
        ["ip", "netns", "exec", ns, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as babeld:
        try:
            dump = subprocess.run(
                ["ip", "netns", "exec", ns, sys.executable, "-c", _DUMP],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            alive = babeld.poll() is None
        finally:
            babeld.terminate()
            try:
                babeld.wait(timeout=5)
            except subprocess.TimeoutExpired:
                babeld.kill()
        errors = babeld.stderr.read() if babeld.stderr else ""
    assert alive, f"babeld exited: {errors}"
    assert dump.returncode == 0, f"{dump.stderr}\nbabeld said: {errors}"
    assert "Couldn't parse configuration" not in errors
    return dump.stdout


def _interfaces(dump: str) -> list[str]:
    return [line.split()[2] for line in dump.splitlines() if line.startswith("add interface ")]


def _xroutes(dump: str) -> dict[str, str]:
    """Exported prefix → metric, from `add xroute P-S prefix P from S metric M` lines."""
    words = [line.split() for line in dump.splitlines() if line.startswith("add xroute ")]
    return {w[4]: w[w.index("metric") + 1] for w in words}


@pytest.mark.lab
@needs_root
@pytest.mark.parametrize("node", sorted(EXPECTED))
def test_real_babeld_runs_on_the_golden_translation(node: str, tmp_path: Path) -> None:
    with namespace(MESH_DEVICES) as ns:
        dump = run_babeld(ns, _golden(node), tmp_path)
    assert _interfaces(dump) == list(MESH_DEVICES)


@pytest.mark.lab
@needs_root
def test_real_babeld_accepts_the_shipped_default(tmp_path: Path) -> None:
    # babeld refuses to run with no interface at all ("Eek... asked to run on
    # no interfaces!"), so, as on a router with this file, the interface comes
    # from elsewhere: here the command line.
    text = (FIXTURES / "uci" / "openwrt-routing__babeld").read_text(encoding="utf-8")
    with namespace(["wl1"]) as ns:
        dump = run_babeld(ns, _conf(text), tmp_path, "-g", str(LOCAL_PORT), "wl1")
    assert _interfaces(dump) == ["wl1"]


@contextmanager
def gateway_namespace(default_route_proto: str) -> Iterator[str]:
    """gw-market's addresses and routes: its mesh /32 on the mesh devices, LAN, NOC, uplink."""
    with namespace([*MESH_DEVICES, "br-lan", "lan4", "wan"]) as ns:
        for args in (
            ["addr", "add", "10.31.0.1/32", "dev", "wl1"],
            ["addr", "add", "10.32.1.1/24", "dev", "br-lan"],
            ["addr", "add", "10.31.0.1/32", "dev", "lan4"],
            ["route", "add", "10.31.255.250/32", "dev", "lan4", "proto", "static"],
            ["addr", "add", "192.0.2.1/24", "dev", "wan"],
            ["route", "add", "default", "via", "192.0.2.254", "dev", "wan"],
        ):
            _ip("-n", ns, *args, *(["proto", default_route_proto] if "default" in args else []))
        yield ns


@pytest.mark.lab
@needs_root
@pytest.mark.parametrize("default_route_proto", ["static", "boot"])
def test_real_babeld_redistributes_what_the_filters_say(
    default_route_proto: str, tmp_path: Path
) -> None:
    # babeld's own rules (filter_match() in its configuration.c): a filter
    # without `local` never matches a local address, and one without `proto`
    # never matches a boot-protocol route; the rendered filters say both.
    with gateway_namespace(default_route_proto) as ns:
        dump = run_babeld(ns, _golden("gw-market"), tmp_path)
    assert _xroutes(dump) == {
        "10.32.1.0/24": "0",  # the LAN
        "10.31.0.1/32": "0",  # the node's own mesh address
        "10.31.255.250/32": "0",  # the NOC
        "0.0.0.0/0": "128",  # the uplink, dearer than a direct path
    }  # and not the uplink's subnet nor any other local address
