"""Benchmark: the agent's footprint and scrape latency beside prometheus-node-exporter.

    .venv/bin/python bench/agent_footprint.py [--node relay-water-tower] [--seconds 60] [--rate 10]
                                              [--smoke] [--attach INVENTORY]

Root only: it builds the practice lab from a copy of the example network in a
private temporary directory and always takes it down again (also on failure
or Ctrl-C). Lab namespace names are machine-global: it refuses to start while
any lab is up, unless --attach names that lab's inventory (the lab tests run its
smoke so, on their lab: a lab of its own costs half a minute).

On one lab router (default: the relay with the most links), in the same run:

- meshkeeper-agent with every collector the lab can run (system, interfaces,
  babel, neighbours; the lab has no radios and no batman-adv module), started
  under `python -X importtime` so every module it ever imports is logged;
- Debian's prometheus-node-exporter with its default collectors, in the same
  network namespace, on the router's mesh address.

Both are scraped from inside the router's own namespace (its firewall lets
only the agent's port in from the mesh) at --rate scrapes per second each
(one keep-alive connection each, as Prometheus scrapes) for a warm-up, then
for --seconds while the bench samples each process's RSS every second and its
CPU time at both ends of the window. Reported: steady RSS (median and max),
CPU share of one core, scrape latency p50/p99 and body size.

Targets (issue 6): RSS at most 1.5x node_exporter's; p99 under 10 ms; scapy
never imported by the steady-state process. Prints its figures; this is a
benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from agent import contract
from lab.host import mount_handle, nsenter, router_python
from lab.paths import LabPaths
from lab.router import AGENT_ARGV

sys.path.insert(0, str(Path(__file__).resolve().parent))
from push import Stop, lab_namespaces

ROOT = Path(__file__).resolve().parent.parent
MESHKEEPER = str(Path(sys.executable).with_name("meshkeeper"))
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
AGENT_PORT = 9110
EXPORTER_PORT = 9100
WARMUP_SECONDS = 20
# Runs inside the router's namespace: scrape each URL at RATE per second on one
# keep-alive connection per target; print each scrape's seconds and size as JSON.
SCRAPER = r"""
import http.client, json, sys, threading, time
rate, seconds, urls = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
out = {}
def scrape(url):
    host, port = url.split("/")[2].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    times, size, due, end = [], 0, time.monotonic(), time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        conn.request("GET", "/metrics")
        body = conn.getresponse().read()
        times.append(time.perf_counter() - start)
        size = len(body)
        due += 1 / rate
        time.sleep(max(0.0, due - time.monotonic()))
    conn.close()
    out[url] = {"times": times, "size": size}
threads = [threading.Thread(target=scrape, args=(u,)) for u in urls]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(out))
sys.exit(0 if len(out) == len(urls) else 1)  # a target that failed to answer
"""


@dataclass
class Footprint:
    name: str
    rss: list[int] = field(default_factory=list)  # bytes, one sample a second
    cpu_seconds: float = 0.0
    times: list[float] = field(default_factory=list)
    size: int = 0

    def row(self, window: float) -> str:
        rss = f"{statistics.median(self.rss) / 2**20:6.1f} MiB (max {max(self.rss) / 2**20:.1f})"
        cpu = f"{100 * self.cpu_seconds / window:5.2f} %"
        q = statistics.quantiles(self.times, n=100)
        latency = f"p50 {1000 * q[49]:5.2f} ms  p99 {1000 * q[98]:5.2f} ms"
        return f"  {self.name:<26} RSS {rss}  CPU {cpu}  {latency}  {self.size} bytes"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise Stop(f"process {pid} has no VmRSS (did it exit?)")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run(command: list[str], timeout: float = 300) -> str:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise Stop(f"{' '.join(command[:6])} failed: {(proc.stderr or proc.stdout)[-800:]}")
    return proc.stdout


def make_lab(base: Path) -> Path:
    inventory = base / "inventory"
    shutil.copytree(ROOT / "inventory", inventory)
    LabPaths.for_inventory(inventory).make_controller_keys()
    start = time.monotonic()
    run([MESHKEEPER, "lab", "up", "-i", str(inventory), "--wait", "120"], timeout=600)
    print(f"lab up: {time.monotonic() - start:.1f} s", flush=True)
    return inventory


def address_of(inventory: Path, node: str) -> str:
    out = run([MESHKEEPER, "monitoring", "targets", "--file-sd", "-i", str(inventory)])
    for group in json.loads(out):
        if group["labels"]["node"] == node:
            return str(group["targets"][0]).rsplit(":", 1)[0]
    raise Stop(f"no node {node} in the example network")


def scrape(
    netns: str, rate: float, seconds: float, urls: list[str]
) -> dict[str, dict[str, object]]:
    out = run(
        [
            "ip",
            "netns",
            "exec",
            netns,
            sys.executable,
            "-c",
            SCRAPER,
            str(rate),
            str(seconds),
            *urls,
        ],
        timeout=seconds + 60,
    )
    result: dict[str, dict[str, object]] = json.loads(out)
    return result


def wait_answering(netns: str, urls: list[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            scrape(netns, 1, 1, urls)
        except Stop:
            time.sleep(1)
        else:
            return
    raise Stop(f"{urls} did not answer within 60 s")


def start_processes(
    node: str, address: str, log: Path, inventory: Path
) -> tuple[subprocess.Popen[bytes], ...]:
    netns = f"mkn-{node}"
    # the lab's own agent instance makes way for the bench's instrumented one
    stop = ["/etc/init.d/meshkeeper-agent", "stop"]
    run([MESHKEEPER, "lab", "exec", "-i", str(inventory), node, "--", *stop])
    # the lab's own argv (lab/router.py), under -X importtime, collecting at agent.json's
    # pace as a router does (the lab's agents collect faster to speed its tests up)
    argv = list(AGENT_ARGV)
    at = argv.index("--collect-interval")
    del argv[at : at + 2]
    agent_argv = [*router_python(), "-X", "importtime", *argv]
    # nsenter and env (router_python's prefix) exec: the pid is the agent's own
    with log.open("wb") as sink:
        agent = subprocess.Popen(
            nsenter(netns, mount_handle(node), agent_argv), stdout=sink, stderr=sink
        )
    exporter = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            netns,
            NODE_EXPORTER,
            f"--web.listen-address={address}:{EXPORTER_PORT}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return agent, exporter


def measure(args: argparse.Namespace, address: str, base: Path) -> None:
    log = base / "agent.log"
    netns = f"mkn-{args.node}"
    agent, exporter = start_processes(args.node, address, log, base / "inventory")
    urls = [f"http://{address}:{AGENT_PORT}/metrics", f"http://{address}:{EXPORTER_PORT}/metrics"]
    try:
        wait_answering(netns, urls)
        print(f"warm-up: {args.warmup} s at {args.rate}/s each", flush=True)
        scrape(netns, args.rate, args.warmup, urls)
        figures = {
            agent.pid: Footprint("meshkeeper-agent"),
            exporter.pid: Footprint("prometheus-node-exporter"),
        }
        before = {pid: cpu_seconds(pid) for pid in figures}
        scraper = subprocess.Popen(
            [
                *("ip", "netns", "exec", netns, sys.executable, "-c", SCRAPER),
                *(str(args.rate), str(args.seconds), *urls),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        start = time.monotonic()
        while scraper.poll() is None:
            for pid, fig in figures.items():
                fig.rss.append(rss_bytes(pid))
            time.sleep(1)
        window = time.monotonic() - start
        for pid, fig in figures.items():
            fig.cpu_seconds = cpu_seconds(pid) - before[pid]
        scraped = json.loads(scraper.communicate()[0])
        for fig, url in zip(figures.values(), urls, strict=True):
            fig.times = scraped[url]["times"]
            fig.size = scraped[url]["size"]
        probes = probe_figures(netns, urls[0])
    finally:
        for proc in (agent, exporter):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        if args.attach:  # the lab's own agent, as it was
            start = ["/etc/init.d/meshkeeper-agent", "start"]
            run([MESHKEEPER, "lab", "exec", "-i", str(base / "inventory"), args.node, "--", *start])
    report(args, figures, window, log, probes)


FETCH = (
    "import sys, urllib.request\n"
    "print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
)


def probe_figures(netns: str, url: str) -> dict[str, float]:
    """The agent's own account of its probe rounds: wall time, count, bytes both ways."""
    text = run(["ip", "netns", "exec", netns, sys.executable, "-c", FETCH, url])
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == contract.M_PROBE_ROUND_DURATION:
                values["round_seconds"] = sample.value
            elif sample.name == f"{contract.M_PROBE_ROUNDS}_total":
                values["rounds"] = sample.value
            elif sample.name == f"{contract.M_PROBE_BYTES}_total":
                values[sample.labels["direction"]] = sample.value
            elif sample.name == contract.M_PROBE_SUCCESS:
                values["probes"] = values.get("probes", 0) + 1
    return values


def report(
    args: argparse.Namespace,
    figures: dict[int, Footprint],
    window: float,
    log: Path,
    probes: dict[str, float],
) -> None:
    agent, exporter = figures.values()
    imported = [
        line.rsplit("|", 1)[1].strip()
        for line in log.read_text(errors="replace").splitlines()
        if line.startswith("import time:") and "|" in line
    ]
    heavy = sorted({m for m in imported if m.split(".")[0] in ("scapy", "pyroute2", "pydantic")})
    ratio = statistics.median(agent.rss) / statistics.median(exporter.rss)
    p99 = statistics.quantiles(agent.times, n=100)[98] * 1000
    print(f"\nAGENT FOOTPRINT on {args.node}, {window:.0f} s at {args.rate} scrapes/s each")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  machine: {os.cpu_count()} CPUs, load average {load} (1, 5, 15 min)")
    print(agent.row(window))
    print(exporter.row(window))
    print(f"  agent RSS / node_exporter RSS: {ratio:.2f}x (target ≤ 1.5x: "
          f"{'met' if ratio <= 1.5 else 'MISSED'})")  # fmt: skip
    print(f"  agent /metrics p99: {p99:.2f} ms (target < 10 ms: {'met' if p99 < 10 else 'MISSED'})")
    verdict = "met" if not heavy else "MISSED"
    print(f"  modules the agent imported: {len(imported)}; scapy, pyroute2 or pydantic among them: "
          f"{', '.join(heavy) or 'none'} (target, no scapy: {verdict})")  # fmt: skip
    rounds = probes.get("rounds", 0)
    if not rounds:
        print("  probe rounds: none ran (PROBLEM: the agent ran no probes)")
        return
    wall = probes.get("round_seconds", 0.0)
    up, down = probes.get("sent", 0) / rounds, probes.get("received", 0) / rounds
    minute = 1_000_000 / 8 * 60  # bytes a 1 Mbit/s uplink carries in the default 60 s interval
    share = 100 * (up + down) / minute
    print(f"  probe round: {probes.get('probes', 0):.0f} probes, last took {wall:.2f} s wall "
          f"(target ≤ 2 s: {'met' if wall <= 2 else 'MISSED'})")  # fmt: skip
    print(f"  probe traffic: {up:,.0f} B up, {down:,.0f} B down per round over {rounds:.0f} rounds "
          f"(the first ones learn throughput every round); at the default 60 s interval "
          f"{share:.2f} % of a 1 Mbit/s uplink (target ≤ 1 %: "
          f"{'met' if share <= 1 else 'MISSED'})")  # fmt: skip


def attached(args: argparse.Namespace) -> None:
    """The bench on a lab already up (the lab tests' own): nothing built, nothing removed."""
    base = Path(tempfile.mkdtemp(prefix="mk-bench-agent-"))
    (base / "inventory").symlink_to(args.attach.resolve())
    try:
        measure(args, address_of(base / "inventory", args.node), base)
    except Stop as exc:
        sys.exit(f"bench stopped: {exc}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--node", default="relay-water-tower")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=10, help="scrapes per second, each target")
    parser.add_argument("--smoke", action="store_true", help="a few seconds: does it run?")
    parser.add_argument(
        "--attach",
        type=Path,
        metavar="INVENTORY",
        help="use the lab already up for this inventory (its router's agent is restarted)",
    )
    args = parser.parse_args()
    args.warmup = WARMUP_SECONDS
    if args.smoke:
        args.seconds, args.rate, args.warmup = 3.0, 5.0, 2.0
    if os.geteuid() != 0:
        sys.exit("bench/agent_footprint.py builds the practice lab: run it as root")
    if not Path(NODE_EXPORTER).exists():
        sys.exit(f"{NODE_EXPORTER} is missing: `make install` installs Debian's package")
    signal.signal(signal.SIGTERM, _terminate)
    if args.attach:
        attached(args)
        return
    running = lab_namespaces()
    if running:
        sys.exit(f"a lab is up ({running[0]}, ...): take it down (`meshkeeper lab down`) first")
    base = Path(tempfile.mkdtemp(prefix="mk-bench-agent-"))
    inventory = base / "inventory"
    failed = None
    try:
        make_lab(base)
        measure(args, address_of(inventory, args.node), base)
    except Stop as exc:
        failed = str(exc)
    finally:
        if inventory.exists():
            proc = subprocess.run(
                [MESHKEEPER, "lab", "down", "-i", str(inventory)],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            print(f"lab down: {'ok' if proc.returncode == 0 else proc.stderr[-500:]}")
            if proc.returncode == 0:
                shutil.rmtree(base, ignore_errors=True)
    if failed:
        sys.exit(f"bench stopped: {failed}")


if __name__ == "__main__":
    main()
