"""Push against the lab's real routers: the fault matrix.

Each scenario asserts the router ends on a working config; the outcomes are
collected and printed as a table at the end (`pytest -s` shows it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from lab.faults import heal, inject
from lab.router import boot, power_off
from tests.lab.conftest import Lab, wait_for

pytestmark = pytest.mark.lab
MATRIX: list[tuple[str, str, str]] = []
MESHKEEPER = str(Path(sys.executable).with_name("meshkeeper"))


def meshkeeper(
    lab: Lab, *args: str, inventory: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`meshkeeper ...` as the operator runs it: from the NOC namespace."""
    inv = str(inventory or lab.inventory)
    return subprocess.run(
        ["ip", "netns", "exec", "mk-noc", MESHKEEPER, *args, "-i", inv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def applied(lab: Lab, node: str) -> dict[str, object]:
    out = lab.ssh(
        node, "cat /etc/meshkeeper/applied.json; test ! -e /etc/meshkeeper/pending && echo clear"
    ).stdout
    record, _, rest = out.partition("\n")
    data: dict[str, object] = json.loads(record) if record.strip() else {}
    data["pending_clear"] = "clear" in rest
    return data


def results(output: str) -> dict[str, str]:
    rows = [line.split() for line in output.splitlines() if line and not line.startswith(" ")]
    return {row[0]: row[1] for row in rows[1:] if len(row) > 1 and row[0] != "NODE"}


@pytest.fixture(scope="module")
def pushed(lab: Lab) -> Iterator[Lab]:
    result = meshkeeper(lab, "push", "--accept-new-host-keys", "--confirm-timeout", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(results(result.stdout).values()) == {"applied"}
    MATRIX.append(("first push, 8 routers", "all applied", "ok"))
    yield lab
    print("\n\nPUSH FAULT MATRIX")
    width = max(len(f) for f, _, _ in MATRIX)
    for fault, outcome, verdict in MATRIX:
        print(f"  {fault:<{width}}  {outcome:<40} {verdict}")


def edit_inventory(lab: Lab, node: str, model: str) -> None:
    """Change what one node renders (its model, which agent.json carries)."""
    nodes = lab.inventory / "nodes.yaml"
    data = yaml.safe_load(nodes.read_text())
    data["nodes"][node]["model"] = f"{node}-{model}"
    nodes.write_text(yaml.safe_dump(data, sort_keys=False))


def test_repush_with_nothing_changed_touches_nothing(pushed: Lab) -> None:
    before = pushed.ssh("gw-market", "stat -c %Y /etc/config/network /etc/meshkeeper/applied.json")
    start = time.monotonic()
    result = meshkeeper(pushed, "push")
    seconds = time.monotonic() - start
    assert result.returncode == 0
    assert set(results(result.stdout).values()) == {"unchanged"}
    after = pushed.ssh("gw-market", "stat -c %Y /etc/config/network /etc/meshkeeper/applied.json")
    assert before.stdout == after.stdout
    MATRIX.append(("re-push, nothing changed", f"all unchanged in {seconds:.1f} s", "ok"))


def test_diff_shows_drift_and_push_repairs_it(pushed: Lab) -> None:
    assert meshkeeper(pushed, "diff").returncode == 0
    pushed.ssh(
        "leaf-riverbank", "sed -i 's/log_size .64./log_size '\"'\"'128'\"'\"'/' /etc/config/system"
    )
    drift = meshkeeper(pushed, "diff", "--node", "leaf-riverbank")
    assert drift.returncode == 1
    assert "system: @system[0].log_size: '128' → '64'" in drift.stdout
    repaired = meshkeeper(pushed, "push", "--node", "leaf-riverbank", "--confirm-timeout", "30")
    assert results(repaired.stdout) == {"leaf-riverbank": "applied"}
    assert meshkeeper(pushed, "diff").returncode == 0
    MATRIX.append(("hand edit on a router (drift)", "diff exit 1, push repaired it", "ok"))


def test_unreachable_node(pushed: Lab) -> None:
    edit_inventory(pushed, "leaf-library", "v2")
    inject(pushed.inv, pushed.plan, pushed.paths, "node-down", ["leaf-library"])
    try:
        result = meshkeeper(pushed, "push", "--node", "leaf-library")
    finally:
        heal(pushed.inv, pushed.plan, pushed.paths)
    assert result.returncode == 1
    assert results(result.stdout) == {"leaf-library": "unreachable"}
    wait_for(lambda: pushed.ssh("leaf-library", "true").returncode == 0, 60)
    MATRIX.append(("unreachable node", "unreachable, others untouched", "ok"))


def test_router_with_full_tmp_is_left_untouched(pushed: Lab) -> None:
    edit_inventory(pushed, "relay-clinic", "v2")
    before = applied(pushed, "relay-clinic")
    pushed.ssh("relay-clinic", "dd if=/dev/zero of=/tmp/fill bs=1M count=40 2>/dev/null; true")
    try:
        result = meshkeeper(pushed, "push", "--node", "relay-clinic")
        assert result.returncode == 1
        assert results(result.stdout) == {"relay-clinic": "failed"}
        assert "nothing was changed" in result.stdout
        assert applied(pushed, "relay-clinic") == before
    finally:
        pushed.ssh("relay-clinic", "rm -f /tmp/fill")
    again = meshkeeper(pushed, "push", "--node", "relay-clinic", "--confirm-timeout", "30")
    assert results(again.stdout) == {"relay-clinic": "applied"}
    MATRIX.append(("/tmp full on the router", "failed at staging, nothing changed", "ok"))


def test_wrong_user_key_and_changed_host_key(pushed: Lab, tmp_path: Path) -> None:
    edit_inventory(pushed, "gw-school", "v2")
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    copy = tmp_path / "inventory"
    shutil.copytree(pushed.inventory, copy)
    nodes = copy / "nodes.yaml"
    nodes.write_text(
        nodes.read_text().replace(
            "  gw-school:\n", f"  gw-school:\n    ssh: {{key_file: {other}}}\n", 1
        )
    )
    (tmp_path / ".meshkeeper" / "lab").mkdir(parents=True)
    for key in (pushed.inventory.parent / ".meshkeeper" / "lab").glob("controller_*"):
        shutil.copy(key, tmp_path / ".meshkeeper" / "lab" / key.name)
    shutil.copy(
        pushed.inventory.parent / ".meshkeeper" / "known_hosts",
        tmp_path / ".meshkeeper" / "known_hosts",
    )
    wrong_key = meshkeeper(pushed, "push", "--node", "gw-school", inventory=copy)
    assert results(wrong_key.stdout) == {"gw-school": "failed"}
    assert "the router refused key" in wrong_key.stdout
    known = tmp_path / ".meshkeeper" / "known_hosts"
    lines = known.read_text().splitlines()
    fake = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "fake_host")],
        check=True,
    )
    del fake
    fake_key = (tmp_path / "fake_host.pub").read_text().split()[:2]
    known.write_text(
        "\n".join(
            f"{line.split()[0]} {' '.join(fake_key)}" if line.startswith("10.31.0.2 ") else line
            for line in lines
        )
        + "\n"
    )
    nodes.write_text(nodes.read_text().replace(f"    ssh: {{key_file: {other}}}\n", ""))
    changed = meshkeeper(pushed, "push", "--node", "gw-school", inventory=copy)
    assert results(changed.stdout) == {"gw-school": "failed"}
    assert "host key" in changed.stdout.lower() and "SHA256:" in changed.stdout
    assert applied(pushed, "gw-school")["pending_clear"] is True
    MATRIX.append(("wrong user key", "failed (auth), router untouched", "ok"))
    MATRIX.append(("changed host key", "refused with both fingerprints", "ok"))


# In-process protocol scenarios run inside the NOC namespace (python -c).
NODE_SCRIPT = """
import sys, time, threading, json
from pathlib import Path
from controller.model.load import load_inventory
from controller.push.plan import NodeChange, target_for, tree_hash
from controller.push.node import push_node, _stage, inspect
from controller.push.run import state_dir
from controller.render.tree import RenderedFile, render_inventory
from controller.transport import KnownHosts, connect
inv = load_inventory(Path(sys.argv[1]))
node, scenario = sys.argv[2], sys.argv[3]
files = render_inventory(inv, [node])[node]
if scenario == "ssh-nowhere":
    # dropbear bound to an interface that does not exist: after the restart procd
    # does a second after reload_config, nothing listens for SSH (issue 12, case 1)
    files = [RenderedFile(f.path, f.data + b"\\toption Interface 'nowhere'\\n", f.mode)
             if f.path == "etc/config/dropbear" else f for f in files]
if scenario in ("power-cut", "ssh-nowhere"):
    files = [RenderedFile(f.path, f.data + (b"\\n" if f.path.endswith("system") else b""),
                          f.mode) for f in files]
change = NodeChange(node, tuple(files), tree_hash(files), target_for(inv, node))
known = KnownHosts(state_dir(inv) / "known_hosts")
if scenario == "cut-transfer":
    import io, tarfile
    from controller.push.plan import stage_archive
    archive = stage_archive(change, 999, [], change.target)
    # cut inside a file's bytes (half the archive may land in tar's zero padding,
    # where every file has arrived whole)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = max(tar.getmembers(), key=lambda m: m.size)
    cut = member.offset_data + member.size // 2
    with connect(change.target, known) as ssh:
        try:
            _stage(ssh, node, archive[:cut])
            print("staged?!")
        except Exception as exc:
            print("refused:", type(exc).__name__)
    sys.exit(0)
def progress(name, step):
    print("step", step, flush=True)
    if scenario == "power-cut" and step == "verifying":
        sys.stdin.readline()  # the test cuts the power here, between apply and confirm
result = push_node(change, known, accept_new=False, confirm_timeout=int(sys.argv[4]),
                   new_target=change.target, progress=progress)
print("result", result.result, result.generation, result.error, flush=True)
"""


def run_node_script(
    lab: Lab,
    node: str,
    scenario: str,
    confirm: int = 20,
    on_step: tuple[str, Callable[[], None]] | None = None,
) -> str:
    """Run NODE_SCRIPT in the NOC; `on_step` runs (in this process, the host's mount
    namespace) when the script reaches that step, which waits for it to finish."""
    out = []
    with subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            "mk-noc",
            sys.executable,
            "-c",
            NODE_SCRIPT,
            str(lab.inventory),
            node,
            scenario,
            str(confirm),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None and process.stdin is not None
        for line in process.stdout:
            out.append(line)
            if on_step and line.strip() == f"step {on_step[0]}":
                on_step[1]()
                process.stdin.write("go\n")
                process.stdin.flush()
        process.wait(timeout=300)
    return "".join(out)


def test_connection_cut_mid_transfer_changes_nothing(pushed: Lab) -> None:
    before = applied(pushed, "leaf-hillside")
    out = run_node_script(pushed, "leaf-hillside", "cut-transfer")
    assert "refused: StagingFailed" in out
    assert applied(pushed, "leaf-hillside") == before
    assert pushed.ssh("leaf-hillside", "test ! -e /tmp/meshkeeper-stage").returncode == 0
    MATRIX.append(("connection cut mid-transfer", "staging refused, nothing changed", "ok"))


def test_config_that_leaves_ssh_listening_nowhere_is_never_confirmed(pushed: Lab) -> None:
    """The old SSH server still answers right after reload_config; the new one, started
    a second later, listens nowhere. Confirming through the old one bricked a real router."""
    before = applied(pushed, "leaf-hillside")
    out = run_node_script(pushed, "leaf-hillside", "ssh-nowhere", confirm=20)
    assert f"result rolled_back {before['generation']}" in out, out
    assert "restored by its timer" in out, out
    after = applied(pushed, "leaf-hillside")
    assert after["generation"] == before["generation"] and after["pending_clear"] is True
    assert "nowhere" not in pushed.ssh("leaf-hillside", "cat /etc/config/dropbear").stdout
    MATRIX.append(("config whose SSH server listens nowhere", "never confirmed, rolled back", "ok"))


def test_power_cut_in_the_confirm_window_boots_the_old_config(pushed: Lab) -> None:
    node = pushed.plan.nodes["leaf-bus-stop"]
    before = applied(pushed, "leaf-bus-stop")

    def cut_power_and_restore() -> None:
        power_off(node, pushed.paths.node(node.name))
        time.sleep(2)
        boot(node)  # boot hooks run first: the rollback watchdog finds the pending marker

    out = run_node_script(
        pushed,
        "leaf-bus-stop",
        "power-cut",
        confirm=40,
        on_step=("verifying", cut_power_and_restore),
    )
    assert "result rolled_back" in out, out
    after = applied(pushed, "leaf-bus-stop")
    assert after["generation"] == before["generation"] and after["pending_clear"] is True
    MATRIX.append(("power cut in the confirm window", "booted back into the old config", "ok"))


def _push_process(lab: Lab, node: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            "mk-noc",
            MESHKEEPER,
            "push",
            "--node",
            node,
            "--confirm-timeout",
            "20",
            "-i",
            str(lab.inventory),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_controller_killed_before_confirm_then_next_push_recovers(pushed: Lab) -> None:
    edit_inventory(pushed, "leaf-hillside", "v3")
    before = applied(pushed, "leaf-hillside")
    with _push_process(pushed, "leaf-hillside") as process:
        assert process.stdout is not None
        for line in process.stdout:
            if "verifying" in line:
                process.kill()  # between apply and confirm
                break
        process.wait(timeout=30)
    wait_for(lambda: applied(pushed, "leaf-hillside").get("pending_clear") is True, 90, step=2)
    assert applied(pushed, "leaf-hillside")["generation"] == before["generation"]
    # `status` asks the router instead of showing `applying` for ever
    listed = meshkeeper(pushed, "status", "--json").stdout  # not --offline: it asks
    state = {s["node"]: s for s in json.loads(listed)}
    assert state["leaf-hillside"]["push"] == "rolled_back", state["leaf-hillside"]
    assert "restored by its timer" in state["leaf-hillside"]["last_error"]
    again = meshkeeper(pushed, "push", "--node", "leaf-hillside", "--confirm-timeout", "30")
    assert results(again.stdout) == {"leaf-hillside": "applied"}
    MATRIX.append(("controller killed before confirming", "router rolled back; next push ok", "ok"))


def test_two_pushes_at_once(pushed: Lab) -> None:
    edit_inventory(pushed, "gw-market", "v4")
    with _push_process(pushed, "gw-market") as first:
        time.sleep(1.5)
        second = meshkeeper(pushed, "push", "--node", "gw-market")
        out, _ = first.communicate(timeout=120)
    assert second.returncode == 1
    assert "another push is running" in second.stderr
    assert results(out) == {"gw-market": "applied"}
    MATRIX.append(("two pushes at once", "second refused by the lock", "ok"))


def test_status_joins_every_node_s_push_state_with_its_agent(pushed: Lab) -> None:
    """The embedded default: no Prometheus, every agent asked directly from the NOC."""
    result = meshkeeper(pushed, "status", "--json")
    assert result.returncode in (0, 1), result.stderr
    rows = {row["node"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(pushed.plan.nodes)
    assert {row["agent"] for row in rows.values()} == {"up"}, rows
    assert all(row["running"] == row["pushed"] for row in rows.values()), rows
    table = meshkeeper(pushed, "status").stdout.splitlines()
    assert all(len(line) <= 80 for line in table), table
    assert any(line.startswith(f"{len(rows)} routers: ") for line in table), table


def edit_agent(lab: Lab, node: str, **settings: object) -> None:
    nodes = lab.inventory / "nodes.yaml"
    data = yaml.safe_load(nodes.read_text())
    data["nodes"][node].setdefault("agent", {}).update(settings)
    nodes.write_text(yaml.safe_dump(data, sort_keys=False))
    if "tls" in settings:  # the NOC must have what checks an agent serving TLS
        network = lab.inventory / "network.yaml"
        top = yaml.safe_load(network.read_text())
        top["noc"]["scrape_tls"] = {"ca_file": "/etc/ssl/certs/meshkeeper-lab-ca.crt"}
        network.write_text(yaml.safe_dump(top, sort_keys=False))


def agent_answers_on(lab: Lab, node: str, port: int) -> bool:
    address = lab.inv.plan[node].management
    code = (
        "import socket, sys\n"
        "try:\n"
        "    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)\n"
        "    s.sendall(b'GET /metrics HTTP/1.0\\r\\n\\r\\n')\n"
        "    print(s.recv(12).decode())\n"
        "except OSError as exc:\n"
        "    print(exc)\n"
    )
    out = lab.ns_run("mk-noc", [sys.executable, "-c", code, str(address), str(port)])
    return out.stdout.startswith(("HTTP/1.0 200", "HTTP/1.1 200"))


def test_new_agent_settings_restart_the_agent(pushed: Lab) -> None:
    """agent.json is no UCI package: push reloads the agent's service itself."""
    node = "relay-water-tower"
    assert agent_answers_on(pushed, node, 9110)
    edit_agent(pushed, node, port=9111)
    result = meshkeeper(pushed, "push", "--node", node, "--confirm-timeout", "30")
    assert results(result.stdout) == {node: "applied"}, result.stdout
    wait_for(lambda: agent_answers_on(pushed, node, 9111), 20)
    assert not agent_answers_on(pushed, node, 9110)
    MATRIX.append(("agent settings changed", "agent restarted on its new port", "ok"))


def test_push_that_silences_the_agent_rolls_back(pushed: Lab) -> None:
    """The agent answered before; a config it cannot start with must not stay."""
    node = "relay-water-tower"
    wait_for(lambda: agent_answers_on(pushed, node, 9111), 20)
    before = applied(pushed, node)
    edit_agent(pushed, node, tls={"cert": "/etc/missing.crt", "key": "/etc/missing.key"})
    result = meshkeeper(pushed, "push", "--node", node, "--confirm-timeout", "20")
    assert results(result.stdout) == {node: "rolled_back"}, result.stdout
    assert "agent answered before the push and does not answer now" in result.stdout
    assert applied(pushed, node)["generation"] == before["generation"]
    wait_for(lambda: agent_answers_on(pushed, node, 9111), 30)  # back on the old config
    MATRIX.append(("config the agent cannot start with", "rolled back, agent answers", "ok"))
