"""`lab up` and `lab down`: build the plan's namespaces, wires and routers; remove them all.

Everything the lab makes is named with the `mk` prefix (namespaces mkn-*,
mki-*, mk-ix, mk-inet, mk-noc, where Prometheus and Alertmanager run: lab/noc.py) or
lives under /run/meshkeeper-lab and .meshkeeper/lab/, so `down` can find and remove
it from a fresh process, even after a crash or a half-finished `up`: it trusts names,
not memory.
Router host keys are kept across down/up (a router keeps its identity).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from controller.model.inventory import Inventory
from controller.render.tree import render_inventory
from lab import noc, upstream
from lab.host import MOUNT_DIR, RUN_DIR, LabError, ip, ip_batch, namespaces, require_root, run
from lab.paths import LabPaths
from lab.plan import (
    EXCHANGE_NS,
    INTERNET_NS,
    INTERNET_TRANSIT_INET,
    INTERNET_TRANSIT_IX,
    LAN_BRIDGE,
    NOC_NS,
    NON_RESOLVER,
    PREFIX,
    LabPlan,
    lab_plan,
)
from lab.router import (
    AGENT_ARGV,
    boot,
    ensure_run_dir,
    kill_namespaces,
    make_mount_namespace,
    prepare_files,
    remove_mount_namespace,
    sshd_argv,
    sshd_config,
    write_bin,
)
from lab.shim.labinfo import DhcpLease, LabInfo

CA_PATH = "etc/ssl/certs/meshkeeper-lab-ca.crt"

SYSCTLS = (
    "net.ipv4.ip_forward=1",
    "net.ipv6.conf.all.forwarding=1",
    "net.ipv6.conf.default.accept_dad=0",
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
)


def is_lab_namespace(name: str) -> bool:
    return name.startswith((f"{PREFIX}n-", f"{PREFIX}i-")) or name in (
        EXCHANGE_NS,
        INTERNET_NS,
        NOC_NS,
    )


def up(inv: Inventory) -> LabPlan:
    """Build whatever of the lab is missing; a complete lab is left as it is."""
    require_root()
    plan = lab_plan(inv)
    paths = LabPaths.for_inventory(inv.root)
    if _complete(plan, paths):
        noc.start(inv, paths)  # a NOC service that died is started again, a new render read
        return plan
    down(paths)  # a partial lab (crash, half-finished up) is rebuilt from scratch
    paths.root.mkdir(parents=True, exist_ok=True)
    _write_state(paths, plan, complete=False)
    ensure_run_dir()
    write_bin(paths)
    for netns in plan.namespaces():
        run(["ip", "netns", "add", netns])
        _sysctls(netns)
        ip("link", "set", "lo", "up", netns=netns)
    _wire(plan)
    _upstream(plan)
    rendered = render_inventory(inv)
    ca = upstream.ca_cert(paths).read_bytes()
    for node in plan.nodes.values():
        node_paths = paths.node(node.name)
        files = {f.path: f.data for f in rendered[node.name]}
        modes = {f.path: f.mode for f in rendered[node.name]}
        files[CA_PATH], modes[CA_PATH] = ca, 0o644  # routers trust the lab's internet
        info = LabInfo(
            node=node.name,
            wifi=node.wifi,
            wired=node.wired,
            dhcp={
                u.interface: DhcpLease(str(u.node_address), str(u.gateway))
                for u in node.uplinks
                if u.dhcp
            },
            sshd=sshd_argv(node_paths, paths),
            agent=AGENT_ARGV,
        )
        prepare_files(
            node_paths,
            files,
            modes,
            info,
            sshd_config(node_paths, paths, legacy_rsa=node.legacy_rsa),
            legacy_rsa=node.legacy_rsa,
        )
        make_mount_namespace(node, node_paths, paths)
    for node in plan.nodes.values():
        boot(node)
    upstream.start(inv, plan, paths, [])
    noc.start(inv, paths)
    _write_state(paths, plan, complete=True)
    return plan


REACH_SCRIPT = """
import socket, sys
for address in sys.argv[1:]:
    try:
        socket.create_connection((address, 22), 2).close()
    except OSError:
        print(address)
"""


def wait_reachable(inv: Inventory, timeout: float) -> float:
    """Seconds until the NOC reaches every router's SSH port (babel has converged)."""
    addresses = [str(plan.management) for plan in inv.plan.values()]
    start = time.monotonic()
    missing = addresses
    while time.monotonic() - start < timeout:
        result = run(
            ["ip", "netns", "exec", NOC_NS, sys.executable, "-c", REACH_SCRIPT, *addresses],
            check=False,
            timeout=60,
        )
        missing = result.stdout.split()
        if result.returncode == 0 and not missing:
            return time.monotonic() - start
        time.sleep(1)
    raise LabError(
        f"after {timeout:.0f} s the NOC still cannot reach {', '.join(missing)} — "
        "see `meshkeeper lab status`"
    )


def _complete(plan: LabPlan, paths: LabPaths) -> bool:
    try:
        state = json.loads(paths.state.read_text())
    except (FileNotFoundError, ValueError):
        return False
    return bool(state.get("complete")) and set(plan.namespaces()) <= namespaces()


def _write_state(paths: LabPaths, plan: LabPlan, *, complete: bool) -> None:
    state = {
        "complete": complete,
        "namespaces": plan.namespaces(),
        "nodes": sorted(plan.nodes),
        "written": time.time(),
    }
    paths.state.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def _sysctls(netns: str) -> None:
    run(["ip", "netns", "exec", netns, "sysctl", "-q", "-w", *SYSCTLS])


def _wire(plan: LabPlan) -> None:
    """veth pairs for every expected link, uplink and the NOC's cable; each router's LAN."""
    for link in plan.links:
        a, b = plan.nodes[link.a], plan.nodes[link.b]
        _veth(a.namespace, link.dev_a, b.namespace, link.dev_b)
    for node in plan.nodes.values():
        # A LAN with one cable plugged in (no dummy module here: a veth pair), so
        # the bridge has carrier and its subnet is routed like a real LAN's.
        ip_batch(
            [
                f"link add {LAN_BRIDGE} type bridge",
                "link add lanport type veth peer name lanclient",
                f"link set lanport master {LAN_BRIDGE}",
                "link set lanport up",
                "link set lanclient up",
                f"link set {LAN_BRIDGE} up",
            ],
            netns=node.namespace,
        )
        for uplink in node.uplinks:
            isp = next(i for i in plan.isps.values() if uplink in i.uplinks)
            _veth(node.namespace, uplink.node_dev, isp.namespace, uplink.isp_dev)
        if node.noc_port:
            _veth(node.namespace, node.noc_port, NOC_NS, "eth0")
    for isp in plan.isps.values():
        _veth(isp.namespace, "ix", EXCHANGE_NS, isp.ix_dev)
    _veth(EXCHANGE_NS, "inet", INTERNET_NS, "ix")


def _veth(ns_a: str, dev_a: str, ns_b: str, dev_b: str) -> None:
    ip("link", "add", dev_a, "netns", ns_a, "type", "veth", "peer", "name", dev_b, "netns", ns_b)
    ip("link", "set", dev_a, "up", netns=ns_a)
    ip("link", "set", dev_b, "up", netns=ns_b)


def _upstream(plan: LabPlan) -> None:
    """ISPs, the national exchange, the international internet and the NOC host."""
    for isp in plan.isps.values():
        lines = [
            f"addr add {isp.transit_isp} dev ix",
            f"addr add {isp.resolver}/32 dev lo",
            f"route add default via {isp.transit_ix.ip} dev ix",
        ]
        for uplink in isp.uplinks:
            lines.append(
                f"addr add {uplink.gateway}/{uplink.node_address.network.prefixlen} "
                f"dev {uplink.isp_dev}"
            )
        ip_batch(lines, netns=isp.namespace)
    ix = [
        f"addr add {INTERNET_TRANSIT_IX} dev inet",
        f"route add default via {INTERNET_TRANSIT_INET.ip} dev inet",
    ]
    for isp in plan.isps.values():
        ix += [
            f"addr add {isp.transit_ix} dev {isp.ix_dev}",
            f"route add {isp.block} via {isp.transit_isp.ip} dev {isp.ix_dev}",
        ]
    ix += [f"addr add {address}/32 dev lo" for address in plan.domestic]
    ip_batch(ix, netns=EXCHANGE_NS)
    inet = [
        f"addr add {INTERNET_TRANSIT_INET} dev ix",
        f"route add 100.64.0.0/10 via {INTERNET_TRANSIT_IX.ip} dev ix",
        f"route add 198.19.0.0/16 via {INTERNET_TRANSIT_IX.ip} dev ix",
    ]
    inet += [f"addr add {address}/32 dev lo" for address in (*plan.international, NON_RESOLVER)]
    ip_batch(inet, netns=INTERNET_NS)
    ip_batch(
        [
            f"addr add {plan.noc_address}/32 dev eth0",
            f"route add {plan.noc_gateway}/32 dev eth0 scope link",
            f"route add default via {plan.noc_gateway} dev eth0 onlink",
        ],
        netns=NOC_NS,
    )


def down(paths: LabPaths | None = None) -> list[str]:
    """Remove every lab namespace, process, mount and runtime file; say what went."""
    require_root()
    removed: list[str] = []
    lab_ns = sorted(n for n in namespaces() if is_lab_namespace(n))
    kill_namespaces(lab_ns)
    for handle in sorted(MOUNT_DIR.iterdir()) if MOUNT_DIR.is_dir() else []:
        remove_mount_namespace(handle.name)
        removed.append(f"mount namespace {handle.name}")
    for netns in lab_ns:
        run(["ip", "netns", "del", netns], check=False)
        removed.append(f"namespace {netns}")
    if RUN_DIR.exists():
        run(["umount", str(RUN_DIR)], check=False)
        shutil.rmtree(RUN_DIR, ignore_errors=True)
    if paths is not None:
        for node_dir in sorted((paths.root / "nodes").glob("*")):
            _remove_runtime(node_dir)
        paths.state.unlink(missing_ok=True)
        noc.remove(paths)
        shutil.rmtree(paths.bin, ignore_errors=True)
    leftovers = [n for n in namespaces() if is_lab_namespace(n)]
    if leftovers:
        raise LabError(f"could not remove namespaces: {', '.join(leftovers)}")
    return removed


def _remove_runtime(node_dir: Path) -> None:
    """Everything of a router but its host key (its identity survives a rebuild)."""
    for item in node_dir.iterdir():
        if item.name.startswith("ssh_host_"):
            continue
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item, ignore_errors=True)
        else:
            item.unlink(missing_ok=True)
