"""Benchmark: validate + render per node, against netjsonconfig in the same run.

    .venv/bin/python bench/render.py [--nodes 1000] [--runs 5] [--profile] [--smoke]

--smoke: 20 nodes, one run of each step, peer included, in seconds (`make test`
runs it, so a bench that breaks fails CI); its figures are not the bench's.

Targets (issue): validate + render under 1 ms per node, at least 20x faster
than netjsonconfig (OpenWISP's renderer) rendering an equivalent device, and
`meshkeeper render` of 1,000 nodes under 3 s as a whole process. Measured on
the example inventory and on a generated network (bench/gen_network.py).

netjsonconfig runs in its own venv, bench/.venv (created on first use; it is
not a meshkeeper dependency), through bench/netjson_device.py. Prints its
figures; this is a benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from controller.model.inventory import Inventory
from controller.model.load import load_inventory
from controller.render.context import NodeContext, SecretCache
from controller.render.tree import RenderedFile, render_inventory, render_node, write_tree
from lab.paths import LabPaths

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers
from gen_network import write

BENCH = Path(__file__).resolve().parent
EXAMPLE = BENCH.parent / "inventory"
PEER_SCRIPT = BENCH / "netjson_device.py"
PEER_NODE = "gw-market"  # the node bench/netjson_device.py mirrors

# Output on tmpfs too: it separates our write path from this machine's disk.
SHM = Path("/dev/shm")  # noqa: S108 - only a private mkdtemp directory inside it

TARGET_NODE_MS = 1.0
TARGET_RATIO = 20.0
TARGET_PROCESS_S = 3.0


@dataclass(frozen=True)
class PeerFigures:
    version: str
    validated_ms: float
    unvalidated_ms: float
    runs: int
    packages: int
    sections: int
    size: int


@dataclass(frozen=True)
class NetworkFigures:
    label: str
    nodes: int
    load_s: float  # median of whole loads: parse, validate, plan, resolve secrets
    render_median_ms: float  # median over nodes and passes, one render_node each
    render_pass_s: float  # median of whole passes over every node

    @property
    def load_ms_per_node(self) -> float:
        return self.load_s * 1000 / self.nodes

    @property
    def validate_render_ms(self) -> float:
        return (self.load_s + self.render_pass_s) * 1000 / self.nodes


@dataclass(frozen=True)
class OutputFigures:
    """`meshkeeper render` runs, and write_tree alone, with the output on one filesystem."""

    where: str
    nodes: int
    fresh_s: list[float]  # whole process into an empty directory: every file written
    unchanged_s: list[float]  # again, nothing changed: every file compared
    write_fresh_s: float  # write_tree alone, in-process, into an empty directory
    write_unchanged_s: float
    bare_s: float  # the same files with bare mkdir/open/write: this filesystem's floor

    @property
    def fresh(self) -> float:
        return statistics.median(self.fresh_s)

    @property
    def unchanged(self) -> float:
        return statistics.median(self.unchanged_s)


@dataclass(frozen=True)
class ProcessParts:
    """`meshkeeper render`'s work before writing, each part timed once (cold, as a run is)."""

    startup_s: float  # interpreter start + imports the render command makes (a subprocess)
    load_s: float
    render_s: float  # render_inventory, every node


def _run(command: list[str]) -> str:
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def peer_figures(python: Path, runs: int) -> PeerFigures:
    raw = json.loads(_run([str(python), str(PEER_SCRIPT), "--runs", str(runs)]))
    return PeerFigures(
        version=raw["version"],
        validated_ms=raw["validated_ms"],
        unvalidated_ms=raw["unvalidated_ms"],
        runs=raw["runs"],
        packages=raw["packages"],
        sections=raw["sections"],
        size=raw["bytes"],
    )


def example_copy(tmp: Path) -> Path:
    """The example inventory, with the lab's controller keys (made as `lab keys` does)."""
    inv = tmp / "example" / "inventory"
    shutil.copytree(EXAMPLE, inv)
    LabPaths.for_inventory(inv).make_controller_keys()
    return inv


def generated(tmp: Path, nodes: int) -> Path:
    inv = tmp / "generated"
    write(inv, nodes)
    return inv


def time_load(path: Path, runs: int) -> tuple[float, Inventory]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        inv = load_inventory(path, resolve_secrets=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), inv


def render_pass(inv: Inventory, samples: list[float]) -> float:
    """Render every node once (as render_inventory does); append each node's time."""
    secrets = SecretCache(inv)
    start = time.perf_counter()
    for name, node in inv.nodes.items():
        begin = time.perf_counter()
        render_node(NodeContext(inv, node, inv.plan[name], secrets))
        samples.append(time.perf_counter() - begin)
    return time.perf_counter() - start


def measure_network(label: str, path: Path, runs: int) -> NetworkFigures:
    load_s, inv = time_load(path, runs)
    render_pass(inv, [])  # warm: imports, caches, first secret reads
    samples: list[float] = []
    passes = [render_pass(inv, samples) for _ in range(runs)]
    return NetworkFigures(
        label=label,
        nodes=len(inv.nodes),
        load_s=load_s,
        render_median_ms=statistics.median(samples) * 1000,
        render_pass_s=statistics.median(passes),
    )


def time_process(inv: Path, out: Path, runs: int) -> tuple[list[float], list[float], int]:
    """Whole `meshkeeper render` runs: (into an empty dir, again unchanged, nodes)."""
    meshkeeper = str(Path(sys.executable).with_name("meshkeeper"))
    command = [meshkeeper, "render", "-i", str(inv), "-o", str(out)]
    fresh: list[float] = []
    unchanged: list[float] = []
    nodes = 0
    for _ in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        for times in (fresh, unchanged):
            # Flush earlier runs' dirty pages first: their writeback would land in this run.
            os.sync()
            start = time.perf_counter()
            report = _run(command)
            times.append(time.perf_counter() - start)
        if not report.rstrip().endswith("— 0 changed"):
            sys.exit(f"second render into {out} changed files: {report}")
        nodes = int(report.split()[1])
    shutil.rmtree(out)
    return fresh, unchanged, nodes


def process_parts(inv_path: Path) -> tuple[ProcessParts, dict[str, list[RenderedFile]]]:
    imports = "import controller.cli, controller.model.load, controller.render.tree"
    start = time.perf_counter()
    _run([sys.executable, "-c", imports])
    startup = time.perf_counter() - start
    load_s, inv = time_load(inv_path, 1)
    start = time.perf_counter()
    rendered = render_inventory(inv)
    render_s = time.perf_counter() - start
    return ProcessParts(startup, load_s, render_s), rendered


def timed_writes(out: Path, rendered: dict[str, list[RenderedFile]]) -> tuple[float, float]:
    """write_tree into an empty directory, then again with nothing changed."""
    writes = []
    for _ in range(2):
        os.sync()
        start = time.perf_counter()
        write_tree(out, rendered, prune=True)
        writes.append(time.perf_counter() - start)
    shutil.rmtree(out)
    return writes[0], writes[1]


def bare_write(out: Path, rendered: dict[str, list[RenderedFile]]) -> float:
    """The same files written with nothing but mkdir/open/write: the filesystem's share."""
    os.sync()
    start = time.perf_counter()
    for node, files in rendered.items():
        for file in files:
            path = out / node / file.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(file.data)
    elapsed = time.perf_counter() - start
    shutil.rmtree(out)
    return elapsed


def measure_output(
    where: str, root: Path, inv: Path, rendered: dict[str, list[RenderedFile]], runs: int
) -> OutputFigures:
    fresh, unchanged, nodes = time_process(inv, root / "render", runs)
    write_fresh, write_unchanged = timed_writes(root / "write", rendered)
    return OutputFigures(
        where=f"{where} ({_fs_type(root)})",
        nodes=nodes,
        fresh_s=fresh,
        unchanged_s=unchanged,
        write_fresh_s=write_fresh,
        write_unchanged_s=write_unchanged,
        bare_s=bare_write(root / "bare", rendered),
    )


def _fs_type(path: Path) -> str:
    """The type of the filesystem `path` is on, from /proc/mounts (Linux), or '?'."""
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return "?"
    target = str(path.resolve())
    best, kind = "", "?"
    for line in mounts:
        fields = line.split()
        point = fields[1]
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def node_shape(files: list[RenderedFile]) -> tuple[int, int, int]:
    """(UCI packages, sections, bytes of every file) of one rendered node."""
    configs = [f for f in files if f.path.startswith("etc/config/")]
    sections = sum(f.data.count(b"\nconfig ") + f.data.startswith(b"config ") for f in configs)
    return len(configs), sections, sum(len(f.data) for f in files)


def peer_node_shape(path: Path) -> tuple[int, int, int]:
    inv = load_inventory(path, resolve_secrets=True)
    ctx = NodeContext(inv, inv.nodes[PEER_NODE], inv.plan[PEER_NODE], SecretCache(inv))
    return node_shape(render_node(ctx))


def profile_render(path: Path, top: int) -> None:
    """Own-time hot spots of one render pass over every node (cProfile inflates totals)."""
    inv = load_inventory(path, resolve_secrets=True)
    render_pass(inv, [])
    profiler = cProfile.Profile()
    profiler.runcall(render_pass, inv, [])
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)
    print(f"\ncProfile of one render pass, {len(inv.nodes)} nodes ({total:.2f} s profiled)")
    print(f"{'own %':>6} {'cum %':>6} {'calls':>8}  function")
    for (file, line, func), (_, calls, own, cum, _) in rows[:top]:
        where = f"{Path(file).name}:{line}" if line else ""
        print(f"{own / total:6.1%} {cum / total:6.1%} {calls:8d}  {func} {where}")


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def print_peer(peer: PeerFigures, ours: tuple[int, int, int]) -> None:
    print(
        f"\nnetjsonconfig {peer.version}, one device ({peer.packages} packages, "
        f"{peer.sections} sections, {peer.size} bytes), median of {peer.runs}:"
    )
    print(f"  render() with validation     {peer.validated_ms:8.2f} ms per device")
    print(f"  render() without validation {peer.unvalidated_ms:8.2f} ms per device")
    packages, sections, size = ours
    print(
        f"meshkeeper {PEER_NODE}, for comparison: {packages} packages, {sections} sections, "
        f"{size} bytes (with agent.json, authorized_keys)"
    )


def print_networks(peer: PeerFigures, networks: list[NetworkFigures]) -> None:
    print(
        f"\n{'network':<16}{'nodes':>6}{'load':>8}{'load':>10}{'render':>10}{'render':>10}"
        f"{'validate':>10}{'peer/us':>9}{'peer/us':>9}"
    )
    print(
        f"{'':<16}{'':>6}{'s':>8}{'ms/node':>10}{'median ms':>10}{'pass s':>10}"
        f"{'+render':>10}{'val':>9}{'no val':>9}"
    )
    for net in networks:
        print(
            f"{net.label:<16}{net.nodes:>6}{net.load_s:>8.3f}{net.load_ms_per_node:>10.3f}"
            f"{net.render_median_ms:>10.3f}{net.render_pass_s:>10.3f}"
            f"{net.validate_render_ms:>10.3f}"
            f"{peer.validated_ms / net.validate_render_ms:>8.1f}x"
            f"{peer.unvalidated_ms / net.render_median_ms:>8.1f}x"
        )
    print(
        "  validate+render = (load + render pass) / nodes, in ms per node\n"
        "  peer/us val: netjsonconfig with validation / our validate+render\n"
        "  peer/us no val: netjsonconfig without validation / our render median"
    )


def print_process(parts: ProcessParts, outputs: list[OutputFigures]) -> None:
    runs = len(outputs[0].fresh_s)
    print(f"\n`meshkeeper render`, {outputs[0].nodes} nodes, whole process, median of {runs}:")
    print(f"  {'output on':<24}{'empty dir':>10}{'unchanged':>11}   runs (empty dir; unchanged)")
    for out in outputs:
        print(
            f"  {out.where:<24}{out.fresh:>8.2f} s{out.unchanged:>9.2f} s"
            f"   {_runs(out.fresh_s)}; {_runs(out.unchanged_s)}"
        )
    print(
        f"  before writing, once: startup+imports {parts.startup_s:.2f} s, "
        f"load {parts.load_s:.2f} s, render {parts.render_s:.2f} s"
    )
    for out in outputs:
        print(
            f"  writing on {out.where}: write_tree {out.write_fresh_s:.2f} s "
            f"(unchanged {out.write_unchanged_s:.2f} s); bare mkdir/open/write of the "
            f"same files {out.bare_s:.2f} s"
        )


def print_targets(peer: PeerFigures, net: NetworkFigures, outputs: list[OutputFigures]) -> None:
    ratio = peer.validated_ms / net.validate_render_ms
    plain_ratio = peer.unvalidated_ms / net.render_median_ms
    ok = net.validate_render_ms < TARGET_NODE_MS
    print(f"\ntargets ({net.label})")
    print(
        f"  validate+render < {TARGET_NODE_MS:.0f} ms per node: "
        f"{net.validate_render_ms:.3f} ms — {verdict(ok)}"
    )
    print(
        f"  >= {TARGET_RATIO:.0f}x netjsonconfig, both validating: {ratio:.1f}x — "
        f"{verdict(ratio >= TARGET_RATIO)}"
    )
    print(
        f"  >= {TARGET_RATIO:.0f}x netjsonconfig, its validation off (our render only): "
        f"{plain_ratio:.1f}x — {verdict(plain_ratio >= TARGET_RATIO)}"
    )
    for out in outputs:
        for what, seconds in (("empty dir", out.fresh), ("unchanged", out.unchanged)):
            print(
                f"  `meshkeeper render` of {out.nodes} nodes < {TARGET_PROCESS_S:.0f} s, "
                f"{what} on {out.where}: {seconds:.2f} s — {verdict(seconds < TARGET_PROCESS_S)}"
            )


def _machine() -> str:
    """CPUs and load: figures from a busy shared machine are not comparable to a quiet one."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average {load}"


def _runs(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000, help="generated network size")
    parser.add_argument("--runs", type=int, default=5, help="loads and render passes timed")
    parser.add_argument("--peer-runs", type=int, default=100, help="netjsonconfig renders timed")
    parser.add_argument("--process-runs", type=int, default=3, help="`meshkeeper render` runs")
    parser.add_argument("--profile", action="store_true", help="cProfile one render pass too")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: does the bench run?")
    args = parser.parse_args()
    if args.smoke:
        args.nodes, args.runs, args.peer_runs, args.process_runs = 20, 1, 3, 1
    python = peers.ensure("netjsonconfig")
    with contextlib.ExitStack() as stack:
        # On disk where `meshkeeper render` writes by default: the project's build/.
        build = Path(__file__).resolve().parent.parent / "build"
        build.mkdir(exist_ok=True)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-", dir=build)))
        example, big = example_copy(tmp), generated(tmp, args.nodes)
        print(f"generated network: {args.nodes} nodes (bench/gen_network.py)")
        print(f"machine: {_machine()}", flush=True)
        peer = peer_figures(python, args.peer_runs)
        networks = [
            measure_network("example", example, args.runs),
            measure_network(f"generated-{args.nodes}", big, args.runs),
        ]
        parts, rendered = process_parts(big)
        outputs = [measure_output("disk", tmp, big, rendered, args.process_runs)]
        if SHM.is_dir() and os.access(SHM, os.W_OK):
            shm = stack.enter_context(tempfile.TemporaryDirectory(dir=SHM))
            outputs.append(measure_output(str(SHM), Path(shm), big, rendered, args.process_runs))
        print_peer(peer, peer_node_shape(example))
        print_networks(peer, networks)
        print_process(parts, outputs)
        print_targets(peer, networks[-1], outputs)
        print(f"\nmachine at the end: {_machine()}")
        if args.profile:
            profile_render(big, top=15)


if __name__ == "__main__":
    main()
