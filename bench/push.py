"""Benchmark: `meshkeeper push` to 50 lab routers against ansible-core, in the same run.

    .venv/bin/python bench/push.py [--nodes 50] [--concurrency 10] [--no-ansible] [--smoke]

--smoke: 1 router, same steps and peer, in about a minute (`make test` runs it, so
a bench that breaks fails CI); its figures say nothing about speed at scale.

Root only: it builds the practice lab (`meshkeeper lab up`) from a generated
network (bench/gen_network.py) in a private temporary directory, and always
takes it down again (`meshkeeper lab down`), also on failure or Ctrl-C. The
lab's namespace names are machine-global: the bench refuses to start while
any lab is up.

Both tools run as an operator runs them, whole processes inside the NOC's
namespace (`ip netns exec mk-noc ...`), over the mesh to every router:

1. `meshkeeper push --accept-new-host-keys` (records host keys, generation 1)
2. change the time zone and the probe interval of every node (2 files each,
   one of them a UCI package), then time `meshkeeper push`: changed configs
3. time `meshkeeper push` again: nothing changed
4. change them once more, `meshkeeper render` the files, then time
   `ansible-playbook` copying the same rendered files to /etc (`copy`, with
   their modes) and running `reload_config` (a handler: only when something
   changed); forks=10, pipelining, ControlPersist, piped transfers (the
   routers have no SFTP, like stock OpenWrt), no fact gathering, no rollback
5. time `ansible-playbook` again: nothing changed

ansible-core runs from its own venv, bench/.venv (created when missing; not a
meshkeeper dependency). Targets (issue): the changed push at least 3x faster
than Ansible's equivalent (while meshkeeper also verifies, backs up, arms a
rollback watchdog and confirms), and a re-push of unchanged nodes under 5 s.
Prints its figures; this is a benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controller.model.load import load_inventory
from controller.push.order import waves

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers
from gen_network import write

BENCH = Path(__file__).resolve().parent
MESHKEEPER = str(Path(sys.executable).with_name("meshkeeper"))
NOC_NS = "mk-noc"
LAB_NS_PREFIXES = ("mkn-", "mki-")
LAB_NS_NAMES = ("mk-ix", "mk-inet", NOC_NS)

TARGET_RATIO = 3.0
TARGET_UNCHANGED_S = 5.0
CONFIRM_TIMEOUT = 60

# Each step changes the same two files on every node: /etc/config/system (a UCI
# package: reload_config runs) and /etc/meshkeeper/agent.json.
VARIANTS = (
    ("Africa/Nairobi", 60),  # as generated: what `lab up` installs, push 1 applies
    ("Africa/Kampala", 30),  # meshkeeper's changed push
    ("Africa/Dar_es_Salaam", 45),  # ansible's changed run
)

# Run inside mk-noc: until every router's sshd answers over the mesh (babel converged).
REACH_SCRIPT = """
import json, socket, sys, time
from concurrent.futures import ThreadPoolExecutor
addresses, deadline = sys.argv[2:], time.monotonic() + float(sys.argv[1])
start, missing = time.monotonic(), set(sys.argv[2:])
def answers(address):
    try:
        with socket.create_connection((address, 22), 1) as s:
            return s.recv(4).startswith(b"SSH")
    except OSError:
        return False
with ThreadPoolExecutor(32) as pool:
    while missing and time.monotonic() < deadline:
        todo = sorted(missing)
        missing = {a for a, ok in zip(todo, pool.map(answers, todo)) if not ok}
        if missing:
            time.sleep(0.5)
print(json.dumps({"seconds": time.monotonic() - start, "missing": sorted(missing)}))
"""

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: rendered config files
      ansible.builtin.copy:
        src: "{{ render_dir }}/{{ inventory_hostname }}/{{ item.path }}"
        dest: "/{{ item.path }}"
        mode: "{{ item.mode }}"
      loop: "{{ mk_files }}"
      notify: reload
  handlers:
    - name: reload
      ansible.builtin.command: reload_config
"""

ANSIBLE_CFG = """\
[defaults]
inventory = {root}/hosts.yml
forks = {forks}
host_key_checking = False
gathering = explicit
interpreter_python = /usr/bin/python3
retry_files_enabled = False
# /root on a lab router is the host's; its /tmp is the router's own.
remote_tmp = /tmp/.ansible-tmp
local_tmp = {root}/local-tmp

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=/dev/null \
-o StrictHostKeyChecking=no -o LogLevel=ERROR
control_path_dir = {root}/cp
# No SFTP on the routers (as on stock OpenWrt): scp and sftp fail.
transfer_method = piped
"""

RECAP = re.compile(
    r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M
)


@dataclass
class PushRun:
    label: str
    seconds: float
    results: list[dict[str, Any]]
    returncode: int
    stderr: str

    def count(self, result: str) -> int:
        return sum(1 for r in self.results if r["result"] == result)

    @property
    def durations(self) -> list[float]:
        return [float(r["duration"]) for r in self.results]

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["result"] not in ("applied", "unchanged")]


@dataclass
class AnsibleRun:
    label: str
    seconds: float
    returncode: int
    ok: int = 0
    changed: int = 0
    changed_hosts: int = 0
    unreachable: int = 0
    failed: int = 0
    hosts: int = 0
    tail: str = ""


@dataclass
class Figures:
    nodes: int
    waves: list[int] = field(default_factory=list)
    lab_up_s: float = 0.0
    dry_run_s: float = 0.0
    converged_s: float = 0.0
    pushes: dict[str, PushRun] = field(default_factory=dict)
    render_s: float = 0.0
    ansible: dict[str, AnsibleRun] = field(default_factory=dict)


class Stop(Exception):
    """The bench cannot go on; the message says why."""


def _run(
    command: list[str], *, timeout: float = 600, env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=timeout, env=env
    )
    return time.perf_counter() - start, proc


def _checked(command: list[str], *, timeout: float = 600) -> tuple[float, str]:
    seconds, proc = _run(command, timeout=timeout)
    if proc.returncode != 0:
        raise Stop(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def in_noc(argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", NOC_NS, *argv]


def lab_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    names = [line.split()[0] for line in out.stdout.splitlines() if line.strip()]
    return [n for n in names if n.startswith(LAB_NS_PREFIXES) or n in LAB_NS_NAMES]


def ensure_ansible() -> Path:
    """ansible-playbook from bench/.venv (bench/peers.py)."""
    return peers.ensure("ansible-core").with_name("ansible-playbook")


def ansible_version(playbook: Path) -> str:
    out = subprocess.run([str(playbook), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else "ansible-playbook (version unknown)"


# --- the network -----------------------------------------------------------------


def make_inventory(base: Path, count: int) -> Path:
    inv = base / "inventory"
    write(inv, count)
    key = base / ".meshkeeper" / "controller_ed25519"  # where {file:} may point: beside inv
    key.parent.mkdir()
    _checked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(key)])
    network_file = inv / "network.yaml"
    network = yaml.safe_load(network_file.read_text(encoding="utf-8"))
    network["defaults"]["ssh"] = {
        "key_file": str(key),
        "authorized_keys": [{"file": str(key.with_suffix(".pub"))}],
    }
    network_file.write_text(yaml.safe_dump(network, sort_keys=False), encoding="utf-8")
    set_variant(inv, 0)
    return inv


def set_variant(inv: Path, index: int) -> None:
    timezone, interval = VARIANTS[index]
    network_file = inv / "network.yaml"
    network = yaml.safe_load(network_file.read_text(encoding="utf-8"))
    network["network"]["timezone"] = timezone
    network["probes"]["interval"] = interval
    network_file.write_text(yaml.safe_dump(network, sort_keys=False), encoding="utf-8")


def wait_converged(addresses: list[str], timeout: float) -> float:
    """Seconds until the NOC reaches every router's sshd over the mesh."""
    _, proc = _run(
        in_noc([sys.executable, "-c", REACH_SCRIPT, str(timeout), *addresses]),
        timeout=timeout + 30,
    )
    if proc.returncode != 0:
        raise Stop(f"reachability probe failed:\n{proc.stderr[-2000:]}")
    report = json.loads(proc.stdout)
    if report["missing"]:
        raise Stop(
            f"babel did not converge in {timeout:.0f} s: the NOC cannot reach "
            f"{len(report['missing'])} router(s): {' '.join(report['missing'][:10])}"
        )
    return float(report["seconds"])


# --- meshkeeper --------------------------------------------------------------------


def meshkeeper_push(inv: Path, label: str, concurrency: int, *, accept_new: bool) -> PushRun:
    command = [
        MESHKEEPER,
        "push",
        "-i",
        str(inv),
        "--concurrency",
        str(concurrency),
        "--confirm-timeout",
        str(CONFIRM_TIMEOUT),
        "--json",
    ]
    if accept_new:
        command.append("--accept-new-host-keys")
    seconds, proc = _run(in_noc(command), timeout=900)
    try:
        results = json.loads(proc.stdout) if proc.stdout.strip() else []
    except ValueError:
        results = []
    run = PushRun(label, seconds, results, proc.returncode, proc.stderr)
    summary = ", ".join(
        f"{run.count(kind)} {kind}"
        for kind in ("applied", "unchanged", "rolled_back", "unreachable", "failed", "skipped")
        if run.count(kind)
    )
    print(f"  {label}: {seconds:.2f} s — {summary or 'no results'} (exit {proc.returncode})")
    for failure in run.failures:
        error = " ".join(str(failure.get("error") or "").split())
        print(f"    {failure['node']}: {failure['result']} — {error}")
    if not results:
        print(f"    stderr: {proc.stderr.strip()[-2000:]}")
    return run


# --- ansible -----------------------------------------------------------------------


def ansible_setup(base: Path, inv_path: Path, render_dir: Path, forks: int) -> Path:
    root = base / "ansible"
    (root / "cp").mkdir(parents=True, exist_ok=True)
    (root / "local-tmp").mkdir(exist_ok=True)
    inv = load_inventory(inv_path, resolve_secrets=False)
    key = inv.nodes[sorted(inv.nodes)[0]].ssh.key_file
    hosts: dict[str, Any] = {}
    for name in sorted(inv.nodes):
        node_dir = render_dir / name
        files = sorted(p for p in node_dir.rglob("*") if p.is_file())
        hosts[name] = {
            "ansible_host": str(inv.plan[name].management),
            "mk_files": [
                {
                    "path": p.relative_to(node_dir).as_posix(),
                    "mode": f"0{p.stat().st_mode & 0o777:o}",
                }
                for p in files
            ],
        }
    document = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(key),
                "ansible_python_interpreter": "/usr/bin/python3",
                "render_dir": str(render_dir),
            },
            "hosts": hosts,
        }
    }
    (root / "hosts.yml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    (root / "ansible.cfg").write_text(ANSIBLE_CFG.format(root=root, forks=forks), encoding="utf-8")
    (root / "push.yml").write_text(PLAYBOOK, encoding="utf-8")
    return root


def ansible_run(playbook: Path, root: Path, label: str) -> AnsibleRun:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_HOME": str(root / "home"),
        "ANSIBLE_NOCOLOR": "1",
    }
    seconds, proc = _run(in_noc([str(playbook), str(root / "push.yml")]), timeout=900, env=env)
    run = AnsibleRun(
        label, seconds, proc.returncode, tail=proc.stdout[-3000:] + proc.stderr[-2000:]
    )
    for _host, ok, changed, unreachable, failed in RECAP.findall(proc.stdout):
        run.hosts += 1
        run.ok += int(ok)
        run.changed += int(changed)
        run.changed_hosts += int(changed) > 0
        run.unreachable += int(unreachable)
        run.failed += int(failed)
    print(
        f"  {label}: {seconds:.2f} s — {run.hosts} hosts, {run.changed} changed tasks on "
        f"{run.changed_hosts} hosts, {run.unreachable} unreachable, {run.failed} failed "
        f"(exit {proc.returncode})"
    )
    if proc.returncode != 0 or run.hosts == 0:
        print("    " + run.tail.strip().replace("\n", "\n    "))
    return run


# --- the run -----------------------------------------------------------------------


def bench(base: Path, args: argparse.Namespace, figures: Figures, playbook: Path | None) -> None:
    inv_path = make_inventory(base, args.nodes)
    inv = load_inventory(inv_path, resolve_secrets=False)
    addresses = [str(inv.plan[n].management) for n in sorted(inv.nodes)]
    figures.waves = [len(w) for w in waves(inv.neighbours(), inv.noc.entry, list(inv.nodes))]
    _checked([MESHKEEPER, "check", "-i", str(inv_path)])

    print(f"lab up: {args.nodes} routers ...", flush=True)
    figures.lab_up_s, _ = _checked(
        [MESHKEEPER, "lab", "up", "--no-wait", "-i", str(inv_path)], timeout=900
    )
    print(f"  lab up: {figures.lab_up_s:.1f} s", flush=True)
    figures.converged_s = wait_converged(addresses, timeout=180)
    print(f"  every router reachable from the NOC {figures.converged_s:.1f} s later", flush=True)

    print("meshkeeper push (from mk-noc):", flush=True)
    first = meshkeeper_push(
        inv_path, "first push (host keys, generation 1)", args.concurrency, accept_new=True
    )
    figures.pushes["first"] = first
    if first.failures or len(first.results) != args.nodes:
        raise Stop("the first push did not reach every router; see above")
    set_variant(inv_path, 1)
    figures.dry_run_s, dry = _run(in_noc([MESHKEEPER, "push", "-i", str(inv_path), "--dry-run"]))
    would = dry.stdout.count("would push")
    print(f"  --dry-run, changed configs: {figures.dry_run_s:.2f} s — {would} would push")
    if would != args.nodes:
        raise Stop(f"push --dry-run saw {would} of {args.nodes} routers to change")
    figures.pushes["changed"] = meshkeeper_push(
        inv_path, "changed configs", args.concurrency, accept_new=False
    )
    figures.pushes["unchanged"] = meshkeeper_push(
        inv_path, "nothing changed", args.concurrency, accept_new=False
    )

    if playbook is None:
        return
    print(f"ansible ({ansible_version(playbook)}, from mk-noc):", flush=True)
    set_variant(inv_path, 2)
    render_dir = base / "rendered"
    figures.render_s, _ = _checked(
        [MESHKEEPER, "render", "-i", str(inv_path), "-o", str(render_dir)]
    )
    root = ansible_setup(base, inv_path, render_dir, args.concurrency)
    figures.ansible["changed"] = ansible_run(playbook, root, "changed configs")
    figures.ansible["unchanged"] = ansible_run(playbook, root, "nothing changed")


def report(figures: Figures, args: argparse.Namespace) -> list[str]:
    n = figures.nodes
    rows: list[tuple[str, str, str]] = []

    def row(what: str, value: str, note: str = "") -> None:
        rows.append((what, value, note))

    row(f"lab up, {n} routers (whole process)", f"{figures.lab_up_s:.1f} s")
    row("babel convergence: NOC reaches every router", f"{figures.converged_s:.1f} s", "after up")
    rounds = sum(-(-w // args.concurrency) for w in figures.waves)
    waves_note = (
        f"waves deepest first: {'/'.join(str(w) for w in figures.waves)} nodes "
        f"= {rounds} rounds of <= {args.concurrency}"
    )
    first = figures.pushes.get("first")
    if first:
        row("meshkeeper first push (host keys, gen 1)", f"{first.seconds:.2f} s", waves_note)
    changed = figures.pushes.get("changed")
    if changed:
        ok = changed.count("applied")
        row(
            f"meshkeeper push, changed ({ok}/{n} applied)",
            f"{changed.seconds:.2f} s",
            f"concurrency {args.concurrency}, confirm-timeout {CONFIRM_TIMEOUT}",
        )
        row("  per node (wall / nodes)", f"{changed.seconds / n * 1000:.0f} ms")
        if changed.durations:
            row(
                "  one node's push: median / max",
                f"{statistics.median(changed.durations):.2f} / {max(changed.durations):.2f} s",
                "connect → confirm",
            )
    unchanged = figures.pushes.get("unchanged")
    if unchanged:
        verdict = "meets" if unchanged.seconds < TARGET_UNCHANGED_S else "MISSES"
        row(
            f"meshkeeper re-push, unchanged ({unchanged.count('unchanged')}/{n} unchanged)",
            f"{unchanged.seconds:.2f} s",
            f"target < {TARGET_UNCHANGED_S:.0f} s: {verdict}",
        )
        if unchanged.durations:
            row(
                "  one node's check: median / max",
                f"{statistics.median(unchanged.durations):.2f} / {max(unchanged.durations):.2f} s",
                "connect → inspect",
            )
        row(
            "push --dry-run, changed configs",
            f"{figures.dry_run_s:.2f} s",
            "reads every router as diff does, changes none",
        )
    a_changed = figures.ansible.get("changed")
    if a_changed:
        row("meshkeeper render for ansible (not counted)", f"{figures.render_s:.2f} s")
        row(
            f"ansible-playbook, changed ({a_changed.changed_hosts}/{n} hosts changed)",
            f"{a_changed.seconds:.2f} s",
            f"forks={args.concurrency}, copy + reload_config handler",
        )
        row("  per node (wall / nodes)", f"{a_changed.seconds / n * 1000:.0f} ms")
    a_unchanged = figures.ansible.get("unchanged")
    if a_unchanged:
        row(
            f"ansible-playbook, unchanged ({a_unchanged.changed_hosts} hosts changed)",
            f"{a_unchanged.seconds:.2f} s",
        )
    if changed and a_changed:
        ratio = a_changed.seconds / changed.seconds
        verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
        row(
            "ratio ansible / meshkeeper, changed",
            f"{ratio:.1f}x",
            f"target ≥ {TARGET_RATIO:.0f}x: {verdict}",
        )
    if unchanged and a_unchanged:
        row(
            "ratio ansible / meshkeeper, unchanged",
            f"{a_unchanged.seconds / unchanged.seconds:.1f}x",
        )
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    print()
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    for what, value, note in rows:
        print(f"{what.ljust(widths[0])}  {value.rjust(widths[1])}  {note}".rstrip())

    problems = []
    for run in figures.pushes.values():
        if run.failures or run.returncode != 0 or len(run.results) != n:
            problems.append(f"meshkeeper {run.label}: exit {run.returncode}")
    for a_run in figures.ansible.values():
        if a_run.returncode != 0 or a_run.failed or a_run.unreachable or a_run.hosts != n:
            problems.append(f"ansible {a_run.label}: exit {a_run.returncode}")
    if changed and changed.count("applied") != n:
        problems.append("meshkeeper changed push did not apply every node")
    if unchanged and unchanged.count("unchanged") != n:
        problems.append("meshkeeper re-push found changes (expected none)")
    if a_changed and a_changed.changed_hosts != n:
        problems.append("ansible changed run did not change every host")
    if a_unchanged and a_unchanged.changed_hosts:
        problems.append("ansible unchanged run changed hosts (expected none)")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return problems


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=10, help="and ansible's forks")
    parser.add_argument("--no-ansible", action="store_true", help="meshkeeper only")
    parser.add_argument("--smoke", action="store_true", help="1 router: does the bench run?")
    args = parser.parse_args()
    if args.smoke:
        args.nodes = 1
    if os.geteuid() != 0:
        sys.exit("bench/push.py builds the practice lab: run it as root")
    running = lab_namespaces()
    if running:
        sys.exit(
            f"a lab is up ({len(running)} namespaces, e.g. {running[0]}): its names are "
            "machine-wide — take it down (`meshkeeper lab down -i INVENTORY`) first"
        )
    playbook = None if args.no_ansible else ensure_ansible()
    signal.signal(signal.SIGTERM, _terminate)
    figures = Figures(nodes=args.nodes)
    base = Path(tempfile.mkdtemp(prefix="mk-bench-push-"))
    inv_path = base / "inventory"
    failed = None
    try:
        bench(base, args, figures, playbook)
    except Stop as exc:
        failed = str(exc)
    finally:
        if inv_path.exists():
            seconds, proc = _run([MESHKEEPER, "lab", "down", "-i", str(inv_path)], timeout=600)
            status = "ok" if proc.returncode == 0 else f"FAILED: {proc.stderr.strip()[-1000:]}"
            print(f"lab down: {seconds:.1f} s ({status})", flush=True)
            if proc.returncode == 0:
                shutil.rmtree(base, ignore_errors=True)
            else:
                print(f"left {base} in place (lab down failed)")
    problems = report(figures, args)
    if failed:
        sys.exit(f"bench stopped: {failed}")
    if problems:
        sys.exit(f"bench finished with {len(problems)} problem(s); see above")


if __name__ == "__main__":
    main()
