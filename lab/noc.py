"""The lab's NOC: real Prometheus and Alertmanager from `monitoring render`, the
controller's exporter, and a recorder for what Alertmanager delivers.

All run in the NOC namespace (mk-noc) on the inventory's NOC address, from
.meshkeeper/lab/noc/ (config/ is the rendered tree, data/ their storage,
notifications.jsonl what reached the webhook or the mail server). `lab down`
kills them with every other process of the lab's namespaces and removes the
folder. The lab's timing is its own: the agents probe every PROBE_INTERVAL
seconds, Prometheus scrapes and evaluates every SCRAPE seconds and
Alertmanager sends within seconds, so an alert shows up in a test's minute.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from controller.model.inventory import Inventory
from controller.noc.config import AlertTiming, render_monitoring
from controller.noc.rules import Timing
from controller.render.output import write_files
from lab.host import LabError, pids_in, spawn_detached
from lab.paths import LabPaths
from lab.plan import NOC_NS
from lab.recorder import SMTP_PORT, WEBHOOK_PORT
from lab.router import COLLECT_INTERVAL, PROBE_INTERVAL

SCRAPE = 2  # and evaluates: an alert follows its condition within seconds
TIMING = Timing(
    round_seconds=PROBE_INTERVAL, scrape_seconds=SCRAPE, collect_seconds=COLLECT_INTERVAL
)
ALERTING = AlertTiming(group_wait="1s", group_interval="5s", repeat_interval="1h")
PROMETHEUS = "prometheus"
ALERTMANAGER = "prometheus-alertmanager"  # Debian's name for alertmanager


@dataclass(frozen=True)
class NocPaths:
    root: Path

    @classmethod
    def of(cls, paths: LabPaths) -> NocPaths:
        return cls(paths.root / "noc")

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def notifications(self) -> Path:
        return self.root / "notifications.jsonl"

    def data(self, name: str) -> Path:
        return self.root / "data" / name

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"


def urls(inv: Inventory) -> tuple[str, str]:
    """(Prometheus, Alertmanager) as the NOC namespace reaches them."""
    noc = inv.noc
    return (
        f"http://{noc.address}:{noc.prometheus.port}",
        f"http://{noc.address}:{noc.alertmanager.port}",
    )


def render(inv: Inventory, paths: LabPaths) -> list[str]:
    """The lab's monitoring config, rendered like `monitoring render` with the lab's
    timing, into NocPaths.config; the files that changed."""
    noc = NocPaths.of(paths)
    noc.root.mkdir(parents=True, exist_ok=True)
    return write_files(noc.config, render_monitoring(inv, TIMING, ALERTING))


def start(inv: Inventory, paths: LabPaths) -> None:
    """Start whatever of the NOC's services is not running (idempotent)."""
    for binary in (PROMETHEUS, ALERTMANAGER):
        if shutil.which(binary) is None:
            raise LabError(
                f"{binary} is not installed — `make test` or `make demo` installs Debian's "
                "prometheus and prometheus-alertmanager packages"
            )
    changed = render(inv, paths)
    noc = NocPaths.of(paths)
    address = str(inv.noc.address)
    started = [
        name for name, argv in _services(inv, noc, address).items() if _spawn(name, argv, noc)
    ]
    _wait_ready(inv)
    if changed:  # those already running read the new config now
        prometheus, alertmanager = urls(inv)
        running = {"prometheus": prometheus, "alertmanager": alertmanager}
        _in_noc(RELOAD_SCRIPT, [f"{u}/-/reload" for n, u in running.items() if n not in started])


def _services(inv: Inventory, noc: NocPaths, address: str) -> dict[str, list[str]]:
    inventory = str(inv.root)
    config = noc.config
    return {
        "recorder": [
            sys.executable, "-m", "lab.recorder", "--address", address,
            "--out", str(noc.notifications),
            "--webhook-port", str(WEBHOOK_PORT), "--smtp-port", str(SMTP_PORT),
        ],
        "exporter": [
            sys.executable, "-m", "controller", "monitoring", "exporter", "-i", inventory,
        ],
        "alertmanager": [
            ALERTMANAGER,
            f"--config.file={config / 'alertmanager.yml'}",
            f"--storage.path={noc.data('alertmanager')}",
            f"--web.listen-address={address}:{inv.noc.alertmanager.port}",
            "--cluster.listen-address=",  # one NOC: no gossip port
        ],
        "prometheus": [
            PROMETHEUS,
            f"--config.file={config / 'prometheus.yml'}",
            f"--storage.tsdb.path={noc.data('prometheus')}",
            f"--web.listen-address={address}:{inv.noc.prometheus.port}",
            "--web.enable-lifecycle",  # lab up reloads it when the render changed
            "--storage.tsdb.retention.time=2d",
        ],
    }  # fmt: skip


def _spawn(name: str, argv: list[str], noc: NocPaths) -> bool:
    """Start the service unless it runs; whether it was started."""
    pid_file = noc.root / f"{name}.pid"
    try:
        pid = int(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        pid = None
    if pid is not None and pid in pids_in(NOC_NS):
        return False
    noc.data(name).mkdir(parents=True, exist_ok=True)
    pid = spawn_detached(["nsenter", f"--net=/run/netns/{NOC_NS}", "--", *argv], noc.log(name))
    pid_file.write_text(f"{pid}\n", encoding="utf-8")
    return True


READY_SCRIPT = """
import sys, urllib.request
for url in sys.argv[1:]:
    try:
        urllib.request.urlopen(url, timeout=2).read()
    except Exception:
        print(url)
"""


RELOAD_SCRIPT = """
import sys, urllib.request
for url in sys.argv[1:]:
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=5).read()
    except Exception:
        print(url)
"""


def _in_noc(script: str, urls: list[str]) -> list[str]:
    """Run one of the scripts above in the NOC namespace: the URLs that failed."""
    result = subprocess.run(
        ["ip", "netns", "exec", NOC_NS, sys.executable, "-c", script, *urls],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={"no_proxy": "*", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    return result.stdout.split() if result.returncode == 0 else urls


def _wait_ready(inv: Inventory, timeout: float = 30) -> None:
    prometheus, alertmanager = urls(inv)
    noc = inv.noc
    wanted = [
        f"{prometheus}/-/ready",
        f"{alertmanager}/-/ready",
        f"http://{noc.address}:{noc.exporter.port}/metrics",
    ]
    deadline = time.monotonic() + timeout
    missing = wanted
    while time.monotonic() < deadline:
        missing = _in_noc(READY_SCRIPT, wanted)
        if not missing:
            return
        time.sleep(0.3)
    raise LabError(
        f"the lab NOC's services did not come up ({', '.join(missing)}) — see "
        ".meshkeeper/lab/noc/*.log"
    )


SERVICES = ("prometheus", "alertmanager", "exporter", "recorder")


def status_lines(inv: Inventory, paths: LabPaths) -> list[str]:
    """One line per NOC service: running or not, and where it answers."""
    noc = NocPaths.of(paths)
    inside = set(pids_in(NOC_NS)) if (Path("/run/netns") / NOC_NS).exists() else set()
    prometheus, alertmanager = urls(inv)
    where = {
        "prometheus": prometheus,
        "alertmanager": alertmanager,
        "exporter": f"http://{inv.noc.address}:{inv.noc.exporter.port}/metrics",
        "recorder": f"{noc.notifications} (webhook :{WEBHOOK_PORT}, mail :{SMTP_PORT})",
    }
    lines = []
    for name in SERVICES:
        try:
            pid = int((noc.root / f"{name}.pid").read_text())
        except (FileNotFoundError, ValueError):
            pid = None
        state = "running" if pid in inside else "stopped"
        lines.append(f"noc {name:<13} {state:<8} {where[name]}")
    return lines


def remove(paths: LabPaths) -> None:
    """The NOC's files (its processes went with the namespace)."""
    shutil.rmtree(NocPaths.of(paths).root, ignore_errors=True)
