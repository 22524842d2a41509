"""batman_adv collector: real batctl JSON, the netlink mapping, the readers and their order.

Every table here is real public data (tests/fixtures/batman-adv/PROVENANCE.md):
batctl's README examples, LibreMesh's test stubs of `batctl nj`/`oj`, the
stderr of the real batctl 2023.0 run on a machine without batman-adv, and
BATMAN_V values read off batctl output quoted in two public threads.

batman-adv cannot run here, so no netlink dump was captured. The netlink tests
encode messages with pyroute2's own NLA classes from the values of those real
tables (as the kernel would send them) and decode them with the agent's code:
that proves the mapping to batctl's keys, and the payload sizes are checked
against the kernel's netlink policy. The attribute numbers themselves are only
checked for order, against the key order real batctl prints (it follows them).
The real netlink reader runs here only up to "no batadv family".
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from agent.collectors.base import Host
from agent.collectors.batman_adv import SPEC, BatmanCollector, families, link_tq
from agent.config import AgentConfig, Listen, Mesh
from agent.errors import CollectorError
from agent.readers.batadv import (
    ATTRIBUTES,
    BATCTL_PATH,
    BATCTL_TIMEOUT,
    CMD_GET_GATEWAYS,
    CMD_GET_NEIGHBORS,
    CMD_GET_ORIGINATORS,
    Gateway,
    Neighbour,
    Originator,
    TableError,
    Tables,
    entry_of,
    gateway,
    message_class,
    neighbour,
    netlink_failure,
    originator,
    parse_neighbours,
    parse_originators,
    read_batctl,
    read_netlink,
    tables,
)
from tests.unit.agent.conftest import FIXTURES, exposition, promtool_problems, registry_of

TABLES = FIXTURES / "batman-adv"
ROOT = Path(__file__).resolve().parents[3]
BATMAN_LOADED = Path("/sys/module/batman_adv").exists()
MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")


def text(name: str) -> str:
    return (TABLES / name).read_text(encoding="utf-8")


def complete_objects(name: str) -> list[dict[str, Any]]:
    """The whole objects of a README example that elides the rest with `[...]`."""
    data = text(name)
    decoder = json.JSONDecoder()
    return [decoder.raw_decode(data, m.end() - 1)[0] for m in re.finditer(r"\n {4}\{", data)]


def readme_tables() -> Tables:
    """batctl README's one test mesh (enp0s1, next hop ae:1b:bf:52:25:58): nj, oj, gwl."""
    originators = complete_objects("readme_batctl-originators_json_oj.json-with-elision.txt")
    gateways = tuple(gateway(netlink_round_trip(CMD_GET_GATEWAYS, e)) for e in gwl_entries())
    return Tables(
        "batctl",
        tuple(parse_neighbours(text("readme_batctl-neighbors_json_nj.json"))),
        tuple(parse_originators(originators)),
        gateways,
    )


def libremesh_tables() -> Tables:
    nj = text("libremesh-test_batctl-nj.json")
    return tables("batctl", nj, text("libremesh-test_batctl-oj.json"), "[]")


# --- the netlink side: encode with pyroute2, decode with the agent --------------------


def netlink_round_trip(command: int, entry: Mapping[str, object]) -> dict[str, object]:
    """`entry` (batctl's keys) encoded as a batadv genl message, then read back."""
    names = {key: name for _, name, key, _ in ATTRIBUTES}
    message = message_class()()
    message["cmd"] = command
    message["version"] = 1
    message["attrs"] = [(names[key], value) for key, value in entry.items()]
    message.encode()
    received = message_class()(bytes(message.data))
    received.decode()
    assert received["cmd"] == command
    return entry_of(received)


def gwl_entries() -> list[dict[str, object]]:
    """README's `batctl gwl` lines as the attributes batctl printed them from
    (cmd/gateways.c: orig, TQ, router, ifname, bandwidth_down/10 "/" bandwidth_up/10)."""
    line = re.compile(
        r"(\* )?([0-9a-f:]{17}) \(\s*(\d+)\) ([0-9a-f:]{17}) \[\s*(\S+)\]: "
        r"(\d+)\.(\d)/(\d+)\.(\d) MBit"
    )
    entries = []
    for match in map(line.fullmatch, text("readme_batctl-gateways_gwl.txt").splitlines()[1:]):
        assert match, "every line after the header is a gateway"
        star, orig, tq, router, ifname, down, down_tenth, up, up_tenth = match.groups()
        entry: dict[str, object] = {
            "orig_address": orig,
            "tq": int(tq),
            "router": router,
            "hard_ifname": ifname,
            "bandwidth_down": int(down + down_tenth),  # "10.0" MBit is 100 × 100 kbit/s
            "bandwidth_up": int(up + up_tenth),
        }
        entries.append(entry | {"best": True} if star else entry)
    return entries


# --- parsers against the real tables ----------------------------------------------------


def test_batctl_readme_neighbours() -> None:
    assert parse_neighbours(text("readme_batctl-neighbors_json_nj.json")) == [
        Neighbour("16:7b:3c:c2:bf:b8", "enp0s1", 708),
        Neighbour("ae:1b:bf:52:25:58", "enp0s1", 1872),
    ]


def test_libremesh_neighbours_on_two_radios_have_no_throughput() -> None:
    parsed = parse_neighbours(text("libremesh-test_batctl-nj.json"))
    assert [(n.interface, n.address, n.last_seen_msecs) for n in parsed] == [
        ("wlan0-mesh_250", "02:58:47:da:4e:aa", 1040),
        ("wlan0-mesh_250", "02:58:47:46:28:95", 1250),
        ("wlan1-mesh_250", "02:ab:46:da:4e:aa", 640),
        ("wlan1-mesh_250", "02:ab:46:46:28:95", 450),
    ]
    assert {n.throughput_kbit_s for n in parsed} == {None}  # BATMAN_IV


def test_libremesh_originators_keep_every_next_hop() -> None:
    parsed = parse_originators(text("libremesh-test_batctl-oj.json"))
    assert len(parsed) == 9
    assert parsed[0] == Originator(
        "02:95:39:46:28:95", "02:ab:46:da:4e:aa", "wlan1-mesh_250", 20, best=False, tq=222
    )
    assert [(o.next_hop, o.tq) for o in parsed if o.best] == [
        ("02:ab:46:46:28:95", 251),
        ("02:58:47:da:4e:aa", 255),
        ("02:ab:46:da:4e:aa", 255),
    ]
    assert sum(o.tq == 0 for o in parsed) == 2  # a next hop that hears nothing back
    # only one originator is also its own next hop: the link TQ to that neighbour
    assert link_tq(parsed) == {("wlan0-mesh_250", "02:58:47:da:4e:aa"): 255}


def test_the_readme_originators_with_elision_are_refused_whole() -> None:
    with pytest.raises(ValueError, match="Expecting value: line 19 column 2"):
        parse_originators(text("readme_batctl-originators_json_oj.json-with-elision.txt"))


def test_readme_originators_give_the_neighbour_tq_best_route_or_not() -> None:
    parsed = readme_tables().originators
    assert [(o.address, o.next_hop, o.tq, o.best) for o in parsed] == [
        ("16:7b:3c:c2:bf:b8", "ae:1b:bf:52:25:58", 236, False),
        ("16:7b:3c:c2:bf:b8", "16:7b:3c:c2:bf:b8", 251, True),
        ("12:6d:7d:6f:f9:03", "ae:1b:bf:52:25:58", 77, True),
    ]
    assert link_tq(parsed) == {("enp0s1", "16:7b:3c:c2:bf:b8"): 251}


def test_other_batctl_tables_are_refused_with_the_reason() -> None:
    with pytest.raises(TableError, match="expected a JSON list of entries, got dict"):
        parse_neighbours(text("readme_batctl-mesh_json_mj.json"))
    with pytest.raises(TableError, match="entry 0 has no 'neigh_address'"):
        parse_neighbours(text("readme_batctl-hardifs_json.json"))


def test_batctl_key_order_follows_the_attribute_numbers() -> None:
    # batctl prints each entry's attributes by rising attribute number (genl_json.c);
    # LibreMesh's stubs kept batctl's own order (batctl's README sorts them with json_pp).
    number = {key: n for n, _, key, _ in ATTRIBUTES}
    for name in ("libremesh-test_batctl-oj.json", "libremesh-test_batctl-nj.json"):
        entries = json.loads(text(name), object_pairs_hook=lambda pairs: [k for k, _ in pairs])
        for keys in entries:
            assert [number[k] for k in keys] == sorted(number[k] for k in keys), keys
    assert {"best", "tq", "orig_address"} <= set(
        json.loads(text("libremesh-test_batctl-oj.json"))[2]
    )


# --- netlink messages map to the same dataclasses ---------------------------------------


@pytest.mark.parametrize(
    ("command", "name", "build"),
    [
        (CMD_GET_NEIGHBORS, "libremesh-test_batctl-nj.json", neighbour),
        (CMD_GET_NEIGHBORS, "readme_batctl-neighbors_json_nj.json", neighbour),
        (CMD_GET_ORIGINATORS, "libremesh-test_batctl-oj.json", originator),
    ],
)
def test_netlink_entries_map_like_batctl_json(
    command: int, name: str, build: Callable[[Mapping[str, object]], object]
) -> None:
    for entry in json.loads(text(name)):
        assert netlink_round_trip(command, entry) == entry
        assert build(netlink_round_trip(command, entry)) == build(entry)


# Payload sizes batman-adv's batadv_netlink_policy (net/batman-adv/netlink.c) declares:
# NLA_U8 1, NLA_U32 4, ETH_ALEN 6, NLA_FLAG 0; strings carry their NUL.
POLICY_SIZE = {"hard_ifindex": 4, "last_seen_msecs": 4, "tq": 1, "throughput": 4}
POLICY_SIZE |= {"bandwidth_up": 4, "bandwidth_down": 4, "best": 0}
POLICY_SIZE |= {"orig_address": 6, "neigh_address": 6, "router": 6}


def test_encoded_attributes_have_the_sizes_the_kernel_policy_declares() -> None:
    names = {key: name for _, name, key, _ in ATTRIBUTES}
    numbers = {n: key for n, _, key, _ in ATTRIBUTES}
    entries = json.loads(text("libremesh-test_batctl-oj.json")) + gwl_entries()
    for entry in entries + BATMAN_V_NEIGHBOURS + [BATMAN_V_GATEWAY]:
        message = message_class()()
        message["attrs"] = [(names[key], value) for key, value in entry.items()]
        message.encode()
        data = bytes(message.data)[20:]  # after nlmsghdr (16) and genlmsghdr (4)
        while data:
            length, number = struct.unpack_from("=HH", data)
            key = numbers[number]
            expected = len(str(entry[key])) + 1 if key == "hard_ifname" else POLICY_SIZE[key]
            assert length - 4 == expected, key
            data = data[(length + 3) & ~3 :]


def test_gateways_from_the_readme_gwl_values() -> None:
    gateways = readme_tables().gateways
    assert len(gateways) == 6
    assert gateways[2] == Gateway(
        "02:62:e7:ab:06:01",
        "ae:1b:bf:52:25:58",
        "enp0s1",
        selected=False,
        bandwidth_down_kbit_s=10_000,  # "10.0/2.0 MBit": 100 and 20 in 100 kbit/s units
        bandwidth_up_kbit_s=2_000,
        tq=235,
    )
    assert not any(g.selected for g in gateways)  # the example marks none with `*`


# `batctl n` on a BATMAN_V node, quoted in freifunk-gluon/gluon PR #1872 (awlx, 2019-11-29):
#   6e:5c:cc:06:cc:e4    0.140s (     1000.0) [vx_mesh_lan]
#   6e:5c:cc:06:cc:e1    0.500s (       48.0) [     mesh0]
# batctl prints kbit/s as kbit/1000 "." kbit%1000/100 and the kernel sends its 100 kbit/s
# estimate times 100, so "48.0" is exactly 48000 kbit/s.
BATMAN_V_NEIGHBOURS: list[dict[str, object]] = [
    {
        "hard_ifname": "vx_mesh_lan",
        "last_seen_msecs": 140,
        "neigh_address": "6e:5c:cc:06:cc:e4",
        "throughput": 1_000_000,
    },
    {
        "hard_ifname": "mesh0",
        "last_seen_msecs": 500,
        "neigh_address": "6e:5c:cc:06:cc:e1",
        "throughput": 48_000,
    },
]
# `batctl gwl` on BATMAN_V and respondd's raw BATADV_ATTR_THROUGHPUT for the same gateway
# (freifunkMUC/site-ffm PR #200, grische, 2022-10-05): `"gateway_throughput": 481` and
#   * f2:00:28:03:00:00 (       48.1) 16:29:30:f6:04:01 [     mesh0]: 1000.0/200.0 MBit
BATMAN_V_GATEWAY: dict[str, object] = {
    "orig_address": "f2:00:28:03:00:00",
    "router": "16:29:30:f6:04:01",
    "hard_ifname": "mesh0",
    "best": True,  # the `*`
    "throughput": 481,
    "bandwidth_down": 10_000,
    "bandwidth_up": 2_000,
}


def batman_v_tables() -> Tables:
    return Tables(
        "netlink",
        tuple(neighbour(netlink_round_trip(CMD_GET_NEIGHBORS, e)) for e in BATMAN_V_NEIGHBOURS),
        (),
        (gateway(netlink_round_trip(CMD_GET_GATEWAYS, BATMAN_V_GATEWAY)),),
    )


def test_batman_v_throughput_units_neighbour_kbit_gateway_hundreds() -> None:
    registry = registry_of(families(batman_v_tables()))
    sample = registry.get_sample_value
    link = {"mesh": "bat0", "interface": "mesh0", "neighbor": "6e:5c:cc:06:cc:e1"}
    assert sample("meshkeeper_batman_neighbor_throughput_bytes_per_second", link) == 48e6 / 8
    wired = link | {"interface": "vx_mesh_lan", "neighbor": "6e:5c:cc:06:cc:e4"}
    assert sample("meshkeeper_batman_neighbor_throughput_bytes_per_second", wired) == 1e9 / 8
    assert sample("meshkeeper_batman_neighbor_tq_ratio", link) is None  # BATMAN_V has no TQ
    gw = {"mesh": "bat0", "gateway": "f2:00:28:03:00:00"}
    assert sample("meshkeeper_batman_gateway_throughput_bytes_per_second", gw) == 48.1e6 / 8
    down = gw | {"direction": "down"}
    assert sample("meshkeeper_batman_gateway_bandwidth_bytes_per_second", down) == 1e9 / 8
    up = gw | {"direction": "up"}
    assert sample("meshkeeper_batman_gateway_bandwidth_bytes_per_second", up) == 2e8 / 8
    selected = gw | {"next_hop": "16:29:30:f6:04:01", "interface": "mesh0"}
    assert sample("meshkeeper_batman_gateway_selected_info", selected) == 1.0
    assert promtool_problems(exposition(families(batman_v_tables()))) == ""


# --- metric families ---------------------------------------------------------------------


def test_readme_mesh_metrics() -> None:
    sample = registry_of(families(readme_tables())).get_sample_value
    link = {"mesh": "bat0", "interface": "enp0s1", "neighbor": "16:7b:3c:c2:bf:b8"}
    assert sample("meshkeeper_batman_neighbor_tq_ratio", link) == 251 / 255
    assert sample("meshkeeper_batman_neighbor_last_seen_seconds", link) == 0.708
    other = link | {"neighbor": "ae:1b:bf:52:25:58"}
    assert sample("meshkeeper_batman_neighbor_last_seen_seconds", other) == 1.872
    assert sample("meshkeeper_batman_neighbor_tq_ratio", other) is None  # its entry is elided
    assert sample("meshkeeper_batman_neighbors", {"mesh": "bat0"}) == 2
    assert sample("meshkeeper_batman_originators", {"mesh": "bat0"}) == 2
    assert sample("meshkeeper_batman_gateways", {"mesh": "bat0"}) == 6
    gw = {"mesh": "bat0", "gateway": "02:62:e7:ab:02:01"}
    assert sample("meshkeeper_batman_gateway_tq_ratio", gw) == 176 / 255
    assert (
        sample("meshkeeper_batman_gateway_bandwidth_bytes_per_second", gw | {"direction": "down"})
        == 1e7 / 8
    )
    assert (
        sample("meshkeeper_batman_gateway_bandwidth_bytes_per_second", gw | {"direction": "up"})
        == 2e6 / 8
    )
    assert sample("meshkeeper_batman_source_info", {"mesh": "bat0", "source": "batctl"}) == 1
    assert "meshkeeper_batman_gateway_selected_info{" not in exposition(families(readme_tables()))


def test_libremesh_metrics() -> None:
    sample = registry_of(families(libremesh_tables())).get_sample_value
    link = {"mesh": "bat0", "interface": "wlan0-mesh_250", "neighbor": "02:58:47:da:4e:aa"}
    assert sample("meshkeeper_batman_neighbor_tq_ratio", link) == 1.0
    assert sample("meshkeeper_batman_neighbor_last_seen_seconds", link) == 1.04
    assert sample("meshkeeper_batman_neighbors", {"mesh": "bat0"}) == 4
    assert sample("meshkeeper_batman_originators", {"mesh": "bat0"}) == 3
    assert sample("meshkeeper_batman_gateways", {"mesh": "bat0"}) == 0


@pytest.mark.parametrize(
    "make",
    [readme_tables, libremesh_tables, batman_v_tables, lambda: Tables("netlink", (), (), ())],
)
def test_the_exposition_passes_promtool(make: Callable[[], Tables]) -> None:
    assert promtool_problems(exposition(families(make()))) == ""


@pytest.mark.parametrize("make", [readme_tables, libremesh_tables, batman_v_tables])
def test_every_mac_in_the_exposition_is_a_router_from_the_tables(
    make: Callable[[], Tables],
) -> None:
    # No translation table is ever read (see the reader tests); this pins that labels
    # carry only neighbour, originator and gateway addresses the tables gave.
    read = make()
    routers = {n.address for n in read.neighbours} | {o.next_hop for o in read.originators}
    routers |= {o.address for o in read.originators} | {g.address for g in read.gateways}
    routers |= {g.next_hop for g in read.gateways}
    assert set(MAC.findall(exposition(families(read)))) <= routers


# --- readers: batctl ---------------------------------------------------------------------


class FakeBatctl:
    """subprocess.run for batctl: answers nj/oj/gwj from recorded outputs, logs each call."""

    def __init__(self, outputs: Mapping[str, str], returncode: int = 0, stderr: str = "") -> None:
        self.outputs = outputs
        self.returncode = returncode
        self.stderr = stderr
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append((argv, kwargs))
        stdout = self.outputs.get(argv[-1], "") if self.returncode == 0 else ""
        return subprocess.CompletedProcess(argv, self.returncode, stdout, self.stderr)


def at_usr_sbin(name: str, path: str | None = None) -> str | None:
    assert path == BATCTL_PATH, "batctl is looked up on a fixed path, not the agent's PATH"
    return f"/usr/sbin/{name}"


LIBREMESH = {
    "nj": text("libremesh-test_batctl-nj.json"),
    "oj": text("libremesh-test_batctl-oj.json"),
    "gwj": "[]",
}


def test_batctl_runs_argv_lists_with_a_timeout_and_only_reads_three_tables() -> None:
    run = FakeBatctl(LIBREMESH)
    read = read_batctl("bat0", run=run, which=at_usr_sbin)
    assert read == libremesh_tables()
    assert [argv for argv, _ in run.calls] == [
        ["/usr/sbin/batctl", "meshif", "bat0", command] for command in ("nj", "oj", "gwj")
    ]  # never tl/tg/tlj/tgj/dcj: translation tables and the DAT cache hold client MACs
    for _, kwargs in run.calls:
        assert kwargs["timeout"] == BATCTL_TIMEOUT and not kwargs.get("shell")


def test_missing_batctl_says_what_to_install() -> None:
    with pytest.raises(
        CollectorError, match=r"batctl is not installed \(opkg install batctl-default\)"
    ):
        read_batctl("bat0", run=FakeBatctl({}), which=lambda name, path=None: None)


def test_batctl_without_batman_adv_reports_its_own_error() -> None:
    stderr = text("batctl-2023.0_meshif-bat0-nj_no-module.stderr")
    run = FakeBatctl({}, returncode=1, stderr=stderr)
    with pytest.raises(CollectorError) as caught:
        read_batctl("bat0", run=run, which=at_usr_sbin)
    assert str(caught.value) == (
        "`batctl meshif bat0 nj` failed: "
        "Error - interface bat0 is not present or not a batman-adv interface"
    )


def test_batctl_without_json_commands_points_to_batctl_default() -> None:
    # batctl-tiny lacks nj like this batctl lacks `xyzzy`: main.c rejects both the same way
    stderr = text("batctl-2023.0_meshif-bat0-unknown-command.stderr")
    run = FakeBatctl({}, returncode=1, stderr=stderr)
    with pytest.raises(CollectorError, match="install batctl-default") as caught:
        read_batctl("bat0", run=run, which=at_usr_sbin)
    assert "no valid command or debug table/JSON specified" in str(caught.value)
    assert "Usage" not in str(caught.value)


def test_batctl_printing_something_else_is_a_collector_error() -> None:
    elided = text("readme_batctl-originators_json_oj.json-with-elision.txt")
    run = FakeBatctl(LIBREMESH | {"oj": elided})
    with pytest.raises(CollectorError, match="batctl gave an unexpected batman-adv table"):
        read_batctl("bat0", run=run, which=at_usr_sbin)


def test_a_hung_batctl_is_cut_off() -> None:
    def hung(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])

    with pytest.raises(CollectorError, match=r"`batctl meshif bat0 nj` gave no answer within 5 s"):
        read_batctl("bat0", run=hung, which=at_usr_sbin)


@pytest.mark.skipif(
    BATMAN_LOADED or shutil.which("batctl", path=BATCTL_PATH) is None,
    reason="needs batctl installed on a machine without batman-adv",
)
def test_the_real_batctl_on_a_machine_without_batman_adv() -> None:
    with pytest.raises(CollectorError, match="not present or not a batman-adv interface"):
        read_batctl("bat0")


# --- readers: netlink, and the order ------------------------------------------------------


def test_netlink_asks_only_for_neighbours_originators_and_gateways() -> None:
    # enum batadv_nl_commands: 6 and 7 are the translation tables, 13 the DAT cache
    assert (CMD_GET_ORIGINATORS, CMD_GET_NEIGHBORS, CMD_GET_GATEWAYS) == (8, 9, 10)
    assert not {key for _, _, key, _ in ATTRIBUTES} & {"tt_address", "dat_cache_hwaddress"}


@pytest.mark.skipif(BATMAN_LOADED, reason="batman-adv is loaded here")
def test_the_real_netlink_reader_without_the_batadv_family() -> None:
    # `lo` exists everywhere; the generic netlink controller has no batadv family here
    with pytest.raises(CollectorError, match=r"^generic netlink family batadv not found"):
        read_netlink("lo")
    with pytest.raises(CollectorError, match=r"^no interface bat-none"):
        read_netlink("bat-none")


def test_netlink_missing_falls_back_to_batctl() -> None:
    tried: list[str] = []

    def netlink(mesh: str) -> Tables:
        tried.append("netlink")
        raise CollectorError(netlink_failure(mesh, 2, "No such file or directory"))

    def batctl(mesh: str) -> Tables:
        tried.append("batctl")
        return read_batctl(mesh, run=FakeBatctl(LIBREMESH), which=at_usr_sbin)

    collector = BatmanCollector(readers=(netlink, batctl))
    sample = registry_of(collector.collect()).get_sample_value
    assert tried == ["netlink", "batctl"]
    assert sample("meshkeeper_batman_source_info", {"mesh": "bat0", "source": "batctl"}) == 1
    assert sample("meshkeeper_batman_neighbors", {"mesh": "bat0"}) == 4


def test_netlink_working_means_batctl_is_never_run() -> None:
    def batctl(mesh: str) -> Tables:
        raise AssertionError("batctl must not run when netlink answers")

    collector = BatmanCollector(readers=(lambda mesh: batman_v_tables(), batctl))
    assert collector.read().source == "netlink"


def test_neither_reader_gives_one_error_with_both_reasons() -> None:
    def netlink(mesh: str) -> Tables:
        raise CollectorError(netlink_failure(mesh, 2, "No such file or directory"))

    def batctl(mesh: str) -> Tables:
        return read_batctl(mesh, run=FakeBatctl({}), which=lambda name, path=None: None)

    with pytest.raises(CollectorError) as caught:
        BatmanCollector(readers=(netlink, batctl)).collect()
    assert str(caught.value) == (
        "cannot read batman-adv on bat0: generic netlink family batadv not found "
        "(kernel module batman-adv not loaded); batctl is not installed "
        "(opkg install batctl-default)"
    )


@pytest.mark.skipif(BATMAN_LOADED, reason="batman-adv is loaded here")
def test_the_built_collector_fails_cleanly_on_a_machine_without_batman_adv() -> None:
    config = AgentConfig(
        "node", "net", "leaf", "23.05", "model", Listen("127.0.0.1", 9100), Mesh("batman-adv")
    )
    collector = SPEC.build(config, Host())
    with pytest.raises(CollectorError, match=r"^cannot read batman-adv on bat0: no interface bat0"):
        collector.collect()
    collector.close()
    assert (SPEC.name, SPEC.interval_seconds) == ("batman_adv", 15.0)


def test_importing_the_collector_does_not_load_pyroute2() -> None:
    # a fresh interpreter, with agent.collectors' __init__ (the other collectors) skipped
    code = (
        "import sys, types, agent\n"
        "pkg = types.ModuleType('agent.collectors')\n"
        "pkg.__path__ = [agent.__path__[0] + '/collectors']\n"
        "sys.modules['agent.collectors'] = pkg\n"
        "import agent.collectors.batman_adv\n"
        "print(sorted(m for m in sys.modules if m.startswith('pyroute2')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
