"""The practice lab runs the example network for real: babel converges, SSH works,
faults bite and heal, and `down` leaves nothing behind."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import pytest

from agent.contract import VERDICT_ENTER_ROUNDS
from lab.build import up
from lab.faults import heal, inject
from lab.noc import TIMING, NocPaths
from lab.recorder import read
from tests.lab.conftest import Lab, converged, wait_for
from tests.lab.noc import firing, prometheus_alerts

pytestmark = pytest.mark.lab


def test_up_is_fast_and_converges(lab: Lab) -> None:
    print(f"\nlab up {lab.up_seconds:.1f} s, babel converged {lab.converged_seconds:.1f} s later")
    assert lab.up_seconds < 20
    assert converged(lab)


def test_up_again_changes_nothing(lab: Lab) -> None:
    before = {
        n: lab.ns_run(node.namespace, ["cat", "/proc/net/dev"]).stdout
        for n, node in lab.plan.nodes.items()
    }
    up(lab.inv)  # complete already: nothing is rebuilt
    after = {
        n: lab.ns_run(node.namespace, ["cat", "/proc/net/dev"]).stdout
        for n, node in lab.plan.nodes.items()
    }
    assert before.keys() == after.keys()
    assert all(lab.ssh(n, "true").returncode == 0 for n in ("gw-market", "leaf-library"))


def test_every_router_reaches_every_lan(lab: Lab) -> None:
    """A TCP handshake from each router to every other router's LAN address: accepted,
    or refused by that router (dropbear may listen on the mesh address only); either
    way the answer came back from there."""
    script = (
        "import socket, sys\n"
        "bad = []\n"
        "for a in sys.argv[1:]:\n"
        "    try:\n"
        "        socket.create_connection((a, 22), timeout=5).close()\n"
        "    except ConnectionRefusedError:\n"
        "        pass\n"
        "    except OSError as e:\n"
        "        bad.append(f'{a}: {e}')\n"
        "print('\\n'.join(bad))\n"
    )
    for name, node in lab.plan.nodes.items():
        others = [str(p.lan_address) for n, p in lab.inv.plan.items() if n != name]
        result = lab.ns_run(node.namespace, ["python3", "-c", script, *others])
        assert result.stdout.strip() == "", f"{name} cannot reach: {result.stdout}"


def test_ssh_reaches_a_router_with_its_own_files_and_no_sftp(lab: Lab) -> None:
    result = lab.ssh("leaf-library", "cat /etc/config/system; ls /etc/meshkeeper")
    assert result.returncode == 0, result.stderr
    assert "option hostname 'leaf-library'" in result.stdout
    assert "agent.json" in result.stdout
    assert lab.ssh("leaf-library", "echo mine > /etc/config/scratch").returncode == 0
    assert lab.ssh("gw-market", "test -e /etc/config/scratch").returncode == 1
    assert lab.ssh("leaf-library", "rm /etc/config/scratch").returncode == 0
    tools = lab.ssh("gw-market", "command -v cat mv tar sha256sum mkdir sleep reboot reload_config")
    assert tools.returncode == 0
    assert "/usr/local/sbin/reboot" in tools.stdout  # the emulated one, never the host's
    sftp = lab.ns_run(
        "mk-noc",
        [
            "sftp",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-i",
            str(lab.paths.controller_key),
            f"root@{lab.inv.plan['gw-market'].management}",
        ],
        input="ls\n",
    )
    assert sftp.returncode != 0  # like stock OpenWrt: no SFTP subsystem


def test_reload_config_applies_a_second_later_and_ignores_broken_uci(lab: Lab) -> None:
    """As procd does: the services follow PROCD_RELOAD_DELAY after reload_config, and a
    package libuci cannot read leaves its service as it was (reload_config exits 0)."""
    node = "leaf-riverbank"
    original = lab.ssh(node, "cat /etc/config/network").stdout

    def addresses() -> str:
        return lab.ns_run("mkn-leaf-riverbank", ["ip", "-4", "addr"]).stdout

    try:
        changed = original.replace("option ipaddr '10.32.7.1'", "option ipaddr '10.32.7.9'")
        assert (
            lab.ssh(node, "cat > /etc/config/network && reload_config", stdin=changed).returncode
            == 0
        )
        assert "10.32.7.9/24" not in addresses()  # not yet: procd waits PROCD_RELOAD_DELAY
        seconds = wait_for(lambda: "10.32.7.9/24" in addresses(), 5, step=0.1)
        print(f"\nnew address {seconds:.2f} s after reload_config returned")
        # babeld restarted on the network change: the mesh relearns the route to it
        wait_for(lambda: lab.ssh(node, "true").returncode == 0, 60)
        broken = lab.ssh(
            node, 'printf "config interface \'lan\\n" > /etc/config/network; reload_config'
        )
        assert broken.returncode == 0
        assert "Parse error" in broken.stderr
        triggers = "/tmp/procd-triggers.log"
        wait_for(lambda: "config rejected" in lab.in_router(node, ["cat", triggers]).stdout, 5)
        assert "10.32.7.9/24" in addresses()
        assert lab.ssh(node, "true").returncode == 0  # dropbear left as it was too
    finally:
        lab.ssh(node, "cat > /etc/config/network && reload_config", stdin=original)
    wait_for(lambda: "10.32.7.1/24" in addresses(), 5, step=0.1)
    wait_for(lambda: converged(lab), 60)


def _predicted_cut(lab: Lab, dead: str) -> set[str]:
    """Nodes the inventory says lose every gateway when `dead` goes."""
    adjacency = {n: set(v) - {dead} for n, v in lab.inv.neighbours().items() if n != dead}
    reached = {g.name for g in lab.inv.gateways()}
    queue = deque(reached)
    while queue:
        for other in adjacency[queue.popleft()] - reached:
            reached.add(other)
            queue.append(other)
    return set(adjacency) - reached


def test_losing_the_critical_relay_splits_the_mesh_as_predicted(lab: Lab) -> None:
    """And the NOC's real Prometheus and Alertmanager call it what it is: the relay
    (and the leaves behind it) down, never a shutdown; no alert of the shutdown
    category may even be pending while the verdicts' rounds go on."""
    cut = _predicted_cut(lab, "relay-water-tower")
    assert cut == {"leaf-library", "leaf-riverbank", "leaf-hillside"}
    gateway_lan = lab.inv.plan["gw-market"].lan_subnet
    inject(lab.inv, lab.plan, lab.paths, "node-down", ["relay-water-tower"])
    powered_off = time.monotonic()
    shutdown: list[dict[str, object]] = []

    def agent_down() -> bool:
        shutdown.extend(
            a for a in prometheus_alerts(lab) if a["labels"].get("category") == "shutdown"
        )
        return bool(firing(lab, "AgentDown", node="relay-water-tower"))

    try:
        seconds = wait_for(lambda: all(gateway_lan not in lab.routes(n) for n in cut), 60)
        print(f"\nsplit seen {seconds:.1f} s after the power cut")
        hillside_lan = lab.inv.plan["leaf-hillside"].lan_subnet
        # the island still meshes (babel may first retract the old path, then use the direct one)
        wait_for(lambda: hillside_lan in lab.routes("leaf-riverbank"), 30)
        assert gateway_lan in lab.routes("leaf-bus-stop")  # the rest is untouched
        wait_for(agent_down, timeout=60, step=2)
        # the NOC team's route (category node) mails it: the recorder is its mail server
        journal = NocPaths.of(lab.paths).notifications
        wait_for(lambda: any("AgentDown" in e.get("subject", "") for e in read(journal)), 30)
        # watched until the routers behind the relay have probed K rounds without it and two
        # more (a verdict entered, a rule's condition pending, scraped), from the power cut on
        end = powered_off + (VERDICT_ENTER_ROUNDS + 2) * TIMING.round_seconds
        while time.monotonic() < end:
            agent_down()
            time.sleep(2)
    finally:
        heal(lab.inv, lab.plan, lab.paths)
    assert not shutdown, shutdown
    wait_for(lambda: converged(lab), 90)
    assert lab.ssh("relay-water-tower", "cat /etc/config/system").returncode == 0


def test_link_down_and_heal(lab: Lab) -> None:
    inject(lab.inv, lab.plan, lab.paths, "link-down", ["relay-water-tower", "leaf-library"])
    try:
        library_lan = lab.inv.plan["leaf-library"].lan_subnet
        wait_for(lambda: library_lan not in lab.routes("gw-market"), 60)
    finally:
        heal(lab.inv, lab.plan, lab.paths, "link-down")
    wait_for(lambda: converged(lab), 90)


PROBE = str(Path(__file__).with_name("probe.py"))


def probe(lab: Lab, node: str, *args: str) -> str:
    out = lab.in_router(node, ["python3", "-", *args], stdin=Path(PROBE).read_text())
    return out.stdout.strip() or out.stderr.strip()


def test_upstream_services_answer_through_the_mesh(lab: Lab) -> None:
    """From a leaf two hops from a gateway: resolvers, domestic and foreign HTTPS."""
    assert probe(lab, "leaf-library", "dns", "100.64.0.53", "chat.platform.test") == "198.18.2.10"
    assert probe(lab, "leaf-library", "dns", "198.18.0.53", "www.world.test") == "198.18.1.10"
    assert probe(lab, "leaf-library", "dns", "198.18.0.53", "nope.world.test") == "nxdomain"
    assert probe(lab, "leaf-library", "https", "198.19.1.10", "portal.gov.test") == "200"
    assert probe(lab, "leaf-library", "https", "198.18.1.10", "www.world.test") == "200"
    assert probe(lab, "leaf-library", "dns", "198.18.0.99", "chat.platform.test") == "timeout"


FAULT_MATRIX = [
    # (fault, args, probe, expected while active)
    ("international-cut", ["all"], ("https", "198.18.1.10", "www.world.test"), "timeout"),
    ("international-cut", ["all"], ("https", "198.19.1.10", "portal.gov.test"), "200"),
    ("national-cut", [], ("https", "198.19.1.10", "portal.gov.test"), "timeout"),
    # from gw-market itself: its own ISP's first hop and resolver still answer
    ("national-cut", [], ("@gw-market", "dns", "100.64.0.53", "www.world.test"), "198.18.1.10"),
    (
        "dns-tamper",
        ["chat.platform.test"],
        ("dns", "100.64.0.53", "chat.platform.test"),
        "198.18.66.6",
    ),
    (
        "dns-tamper",
        ["chat.platform.test", "inject"],
        ("dns", "198.18.0.99", "chat.platform.test"),
        "198.18.66.6",
    ),
    # an RST answering the SYN: the client sees "connection refused"
    ("platform-block", ["chat", "tcp"], ("tcp", "198.18.2.10", "443"), "refused"),
    ("platform-block", ["chat", "tcp"], ("tcp", "198.18.2.20", "443"), "open"),
    (
        "platform-block",
        ["video", "tls-sni"],
        ("https", "198.18.2.30", "video.platform.test"),
        "reset",
    ),
    ("platform-block", ["social", "http"], ("http", "198.18.2.20", "social.platform.test"), "451"),
    (
        "platform-block",
        ["social", "dns"],
        ("dns", "198.18.0.53", "social.platform.test"),
        "nxdomain",
    ),
]


@pytest.mark.parametrize(
    ("kind", "args", "check", "expected"),
    FAULT_MATRIX,
    ids=[f"{k}-{'-'.join(a)}-{'-'.join(c[:2])}" for k, a, c, _ in FAULT_MATRIX],
)
def test_fault_at_packet_level_and_heal(
    lab: Lab, kind: str, args: list[str], check: tuple[str, ...], expected: str
) -> None:
    node = "leaf-library"
    if check[0].startswith("@"):
        node, check = check[0][1:], check[1:]
    healthy = probe(lab, node, *check)
    inject(lab.inv, lab.plan, lab.paths, kind, args)
    try:
        during = probe(lab, node, *check)
    finally:
        heal(lab.inv, lab.plan, lab.paths, kind)
    after = probe(lab, node, *check)
    print(f"\n{kind} {' '.join(args)}: {' '.join(check)} → {healthy} / {during} / {after}")
    assert during == expected
    assert after == healthy


def test_isp_down_leaves_the_other_uplink(lab: Lab) -> None:
    inject(lab.inv, lab.plan, lab.paths, "isp-down", ["isp-fibre"])
    try:
        assert probe(lab, "gw-market", "dns", "100.64.0.53", "www.world.test") == "timeout"
        assert probe(lab, "gw-school", "dns", "100.72.0.53", "www.world.test") == "198.18.1.10"
    finally:
        heal(lab.inv, lab.plan, lab.paths)
    assert probe(lab, "gw-market", "dns", "100.64.0.53", "www.world.test") == "198.18.1.10"


def test_throttle_is_a_flat_rate(lab: Lab) -> None:
    """800 kbit/s policed at the exchange: a 300 kB download takes seconds, not milliseconds."""
    check = ("rate", "198.18.1.10", "www.world.test", "300000")
    healthy = int(probe(lab, "gw-school", *check))
    inject(lab.inv, lab.plan, lab.paths, "throttle", ["198.18.1.10", "800"])
    try:
        during = int(probe(lab, "gw-school", *check))
    finally:
        heal(lab.inv, lab.plan, lab.paths, "throttle")
    print(f"\nthrottle 800 kbit/s: {healthy} → {during} kbit/s")
    assert during < 2000 < healthy
