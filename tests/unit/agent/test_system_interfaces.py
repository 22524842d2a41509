"""system and interfaces collectors, and the stdlib rtnetlink reader they rely on."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from agent import contract
from agent.collectors.base import Host
from agent.collectors.interfaces import InterfacesCollector
from agent.collectors.system import SystemCollector, parse_meminfo
from agent.config import AgentConfig, Listen
from agent.errors import CollectorError
from agent.readers.netlink import messages, parse_links
from tests.unit.agent.conftest import FIXTURES, exposition, promtool_problems, registry_of

DUMP = (FIXTURES / "rtnetlink" / "links.dump").read_bytes()
PROC = FIXTURES / "proc"
CONFIG = AgentConfig(
    node="n", network="t", role="leaf", release="22.03", model="TP-Link Archer C6 v3",
    listen=Listen("127.0.0.1", 9110),
)  # fmt: skip


def pyroute2_links() -> dict[str, dict[str, object]]:
    """pyroute2's own decoding of the recorded dump: the reference."""
    out = {}
    for kind, payload in messages(DUMP):
        if kind != 16:  # RTM_NEWLINK
            continue
        header = struct.pack("=IHHII", 16 + len(payload), kind, 2, 1, 0)
        msg = ifinfmsg(header + payload)
        msg.decode()
        stats = msg.get_attr("IFLA_STATS64")
        out[msg.get_attr("IFLA_IFNAME")] = {
            "index": msg["index"],
            "flags": msg["flags"],
            "operstate": msg.get_attr("IFLA_OPERSTATE").lower(),
            "carrier_changes": msg.get_attr("IFLA_CARRIER_CHANGES"),
            "rx_bytes": stats["rx_bytes"],
            "tx_bytes": stats["tx_bytes"],
            "tx_packets": stats["tx_packets"],
            "rx_dropped": stats["rx_dropped"],
        }
    return out


def test_link_dump_reads_as_pyroute2_reads_it() -> None:
    reference = pyroute2_links()
    ours = {link.name: link for link in parse_links(DUMP)}
    assert set(ours) == set(reference) == {"lo", "mesh-a", "mesh-b", "br-lan"}
    for name, want in reference.items():
        link = ours[name]
        assert link.index == want["index"]
        assert link.flags == want["flags"]
        assert link.operstate == want["operstate"]
        assert link.carrier_changes == want["carrier_changes"]
        assert link.stats["rx_bytes"] == want["rx_bytes"]
        assert link.stats["tx_packets"] == want["tx_packets"]
        assert link.stats["rx_dropped"] == want["rx_dropped"]


def test_a_link_whose_peer_went_down_is_down_and_flapped() -> None:
    links = {link.name: link for link in parse_links(DUMP)}
    assert links["mesh-a"].operstate == "lowerlayerdown" and not links["mesh-a"].up
    assert links["mesh-a"].carrier_changes and links["mesh-a"].carrier_changes > 0
    assert links["br-lan"].up  # `unknown` operstate, but up with a carrier


def test_netlink_error_is_reported() -> None:
    header = struct.pack("=IHHII", 20, 2, 0, 1, 0)  # NLMSG_ERROR, errno -EPERM
    with pytest.raises(ValueError, match="errno 1"):
        parse_links(header + struct.pack("=i", -1))


def test_interfaces_exposition_skips_loopback_and_passes_promtool() -> None:
    families = InterfacesCollector(read=lambda: DUMP).collect()
    registry = registry_of(families)
    assert registry.get_sample_value("meshkeeper_interface_up", {"device": "lo"}) is None
    assert registry.get_sample_value("meshkeeper_interface_up", {"device": "mesh-a"}) == 0
    assert registry.get_sample_value("meshkeeper_interface_up", {"device": "br-lan"}) == 1
    sent = registry.get_sample_value(
        "meshkeeper_interface_transmit_bytes_total", {"device": "br-lan"}
    )
    assert sent == pyroute2_links()["br-lan"]["tx_bytes"]
    assert promtool_problems(exposition(families)) == ""


def test_interfaces_collector_reads_this_namespace() -> None:
    families = InterfacesCollector().collect()  # a real dump: this test process's own links
    assert any(f.name == "meshkeeper_interface_up" for f in families)


@pytest.fixture
def router(tmp_path: Path) -> Path:
    (tmp_path / "proc").mkdir()
    for name in ("loadavg", "meminfo", "uptime"):
        shutil.copy(PROC / name, tmp_path / "proc" / name)
    (tmp_path / "tmp").mkdir()
    return tmp_path


def test_system_from_recorded_proc_files(router: Path) -> None:
    registry = registry_of(SystemCollector(CONFIG, Host(root=router)).collect())
    load = (PROC / "loadavg").read_text().split()
    assert registry.get_sample_value("meshkeeper_node_load", {"window": "5m"}) == float(load[1])
    uptime = float((PROC / "uptime").read_text().split()[0])
    assert registry.get_sample_value("meshkeeper_node_uptime_seconds") == uptime
    kib = {
        line.split(":")[0]: int(line.split()[1])
        for line in (PROC / "meminfo").read_text().splitlines()
    }
    total = registry.get_sample_value("meshkeeper_node_memory_total_bytes")
    assert total == kib["MemTotal"] * 1024
    info = {"version": "0.1.0", "release": "22.03", "model": "TP-Link Archer C6 v3"}
    assert registry.get_sample_value("meshkeeper_agent_info", info) == 1
    assert registry.get_sample_value("meshkeeper_config_pending") == 0
    assert registry.get_sample_value("meshkeeper_config_generation") is None  # never pushed
    free = registry.get_sample_value(
        "meshkeeper_node_filesystem_free_bytes", {"mountpoint": "/tmp"}
    )
    assert free is not None and free > 0


def test_meminfo_without_memavailable_falls_back() -> None:
    text = (PROC / "meminfo").read_text()
    old_kernel = "\n".join(
        line for line in text.splitlines() if not line.startswith("MemAvailable")
    )
    kib = {line.split(":")[0]: int(line.split()[1]) for line in text.splitlines()}
    _, available = parse_meminfo(old_kernel)
    assert available == (kib["MemFree"] + kib["Buffers"] + kib["Cached"]) * 1024


def test_system_reports_what_push_applied(router: Path) -> None:
    meta = router / "etc" / "meshkeeper"
    meta.mkdir(parents=True)
    (meta / "applied.json").write_text(json.dumps({"generation": 7, "hash": "ab12", "files": {}}))
    (meta / "pending").write_text("gen-6.tar\n")
    families = SystemCollector(CONFIG, Host(root=router)).collect()
    registry = registry_of(families)
    assert registry.get_sample_value("meshkeeper_config_generation") == 7
    assert registry.get_sample_value("meshkeeper_config_info", {"hash": "ab12"}) == 1
    assert registry.get_sample_value("meshkeeper_config_pending") == 1
    assert promtool_problems(exposition(families)) == ""


def test_broken_applied_record_is_a_collector_error(router: Path) -> None:
    meta = router / "etc" / "meshkeeper"
    meta.mkdir(parents=True)
    (meta / "applied.json").write_text('{"generation": "seven"}')
    with pytest.raises(CollectorError, match=r"applied\.json"):
        SystemCollector(CONFIG, Host(root=router)).collect()


def test_missing_proc_is_a_collector_error(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match=r"cannot read /proc/loadavg"):
        SystemCollector(CONFIG, Host(root=tmp_path)).collect()


def test_the_last_rollback_the_router_did_by_itself(router: Path) -> None:
    """rollback.sh appends `UNIXTIME REASON BACKUP` to /etc/meshkeeper/rollbacks.log
    (controller/push/remote.py); the last well-formed line is the one reported, with a
    reason label from a bounded set."""
    meta = router / "etc" / "meshkeeper"
    meta.mkdir(parents=True)
    log = meta / "rollbacks.log"
    log.write_text("1764000000 boot /etc/meshkeeper/backup/gen-3.tar\n")
    registry = registry_of(SystemCollector(CONFIG, Host(root=router)).collect())
    assert registry.get_sample_value(contract.M_CONFIG_ROLLBACK, {"reason": "boot"}) == 1764000000
    log.write_text(log.read_text() + "1764000500 timer gen-4.tar\ngarbage\n\x00\x01\n")
    registry = registry_of(SystemCollector(CONFIG, Host(root=router)).collect())
    assert registry.get_sample_value(contract.M_CONFIG_ROLLBACK, {"reason": "timer"}) == 1764000500
    assert registry.get_sample_value(contract.M_CONFIG_ROLLBACK, {"reason": "boot"}) is None
    log.write_text("1764000900 <script>alert(1)</script> x\n")
    registry = registry_of(SystemCollector(CONFIG, Host(root=router)).collect())
    assert registry.get_sample_value(contract.M_CONFIG_ROLLBACK, {"reason": "other"}) == 1764000900


def test_no_rollback_log_no_rollback_series(router: Path) -> None:
    families = SystemCollector(CONFIG, Host(root=router)).collect()
    assert contract.M_CONFIG_ROLLBACK not in {f.name for f in families}
