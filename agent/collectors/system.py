"""`system`: load, memory, uptime, flash and RAM-disk usage, agent and config identity.

    meshkeeper_node_load{window="1m|5m|15m"}            run-queue load average
    meshkeeper_node_memory_total_bytes / _available_bytes
    meshkeeper_node_uptime_seconds
    meshkeeper_node_filesystem_size_bytes{mountpoint} / _free_bytes{mountpoint}
        the flash overlay (/overlay on OpenWrt, else /) and the RAM disk /tmp,
        where a push stages its files
    meshkeeper_agent_info{version,release,model}        always 1
    meshkeeper_config_generation                        the generation meshkeeper push applied
    meshkeeper_config_info{hash}                        the applied tree's hash, always 1
    meshkeeper_config_pending                           1 while a push waits for its confirm
    meshkeeper_config_last_rollback_timestamp_seconds{reason}
        when the router last restored its previous config by itself (boot: a push
        was never confirmed before a power cut; timer: no confirm in time; now:
        the apply failed), from /etc/meshkeeper/rollbacks.log on flash

The /proc parsers are pure functions of the files' text; `Host.root` points
them at a fixture tree in the tests (node_exporter's --path.procfs habit).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from agent import __version__, contract
from agent.collectors.base import CollectorSpec, Host
from agent.config import AgentConfig
from agent.errors import CollectorError

APPLIED = "/etc/meshkeeper/applied.json"  # written by `meshkeeper push` (controller/push/remote.py)
PENDING = "/etc/meshkeeper/pending"
ROLLBACKS = "/etc/meshkeeper/rollbacks.log"  # rollback.sh: "UNIXTIME REASON BACKUP" lines


def parse_loadavg(text: str) -> tuple[float, float, float]:
    one, five, fifteen = (float(v) for v in text.split()[:3])
    return one, five, fifteen


def parse_meminfo(text: str) -> tuple[int, int]:
    """(total, available) in bytes; kernels before 3.14 have no MemAvailable."""
    kib = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields:
            kib[key] = int(fields[0])
    if "MemAvailable" in kib:
        available = kib["MemAvailable"]
    else:
        available = kib.get("MemFree", 0) + kib.get("Buffers", 0) + kib.get("Cached", 0)
    return kib["MemTotal"] * 1024, available * 1024


def parse_uptime(text: str) -> float:
    return float(text.split()[0])


def parse_applied(text: str) -> tuple[int, str]:
    data = json.loads(text)
    generation, tree = data["generation"], data["hash"]
    if not isinstance(generation, int) or not isinstance(tree, str):
        raise TypeError("applied.json: generation must be an integer and hash a string")
    return generation, tree


def parse_last_rollback(text: str) -> tuple[float, str] | None:
    """(when, reason) of the log's last well-formed line; None when there is none.
    The reason is one of rollback.sh's modes or "other": a label takes no free text."""
    for line in reversed(text.splitlines()):
        fields = line.split()
        if len(fields) >= 2 and fields[0].isdigit():
            reason = fields[1] if fields[1] in contract.ROLLBACK_REASONS else "other"
            return float(fields[0]), reason
    return None


class SystemCollector:
    def __init__(self, config: AgentConfig, host: Host) -> None:
        self._config = config
        self._host = host

    def _read(self, path: str) -> str:
        try:
            return self._host.path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CollectorError(f"cannot read {path}: {exc.strerror}") from exc

    def collect(self) -> list[Metric]:
        return [
            *self._proc(),
            *self._filesystems(),
            self._info(),
            *self._applied(),
        ]

    def close(self) -> None:
        return None

    def _proc(self) -> list[Metric]:
        load = GaugeMetricFamily(
            "meshkeeper_node_load", "Load average over the window.", labels=["window"]
        )
        for window, value in zip(
            ("1m", "5m", "15m"), parse_loadavg(self._read("/proc/loadavg")), strict=True
        ):
            load.add_metric([window], value)
        total, available = parse_meminfo(self._read("/proc/meminfo"))
        return [
            load,
            GaugeMetricFamily(
                "meshkeeper_node_memory_total_bytes", "RAM the kernel manages.", value=total
            ),
            GaugeMetricFamily(
                "meshkeeper_node_memory_available_bytes",
                "RAM available for new work without swapping (MemAvailable).",
                value=available,
            ),
            GaugeMetricFamily(
                "meshkeeper_node_uptime_seconds",
                "Time since boot: a drop means the router rebooted (power cut?).",
                value=parse_uptime(self._read("/proc/uptime")),
            ),
        ]

    def _filesystems(self) -> list[Metric]:
        size = GaugeMetricFamily(
            "meshkeeper_node_filesystem_size_bytes",
            "Size of the filesystem.",
            labels=["mountpoint"],
        )
        free = GaugeMetricFamily(
            "meshkeeper_node_filesystem_free_bytes",
            "Space available to unprivileged writers.",
            labels=["mountpoint"],
        )
        flash = "/overlay" if self._host.path("/overlay").is_dir() else "/"
        for mountpoint in (flash, "/tmp"):  # noqa: S108 (the RAM disk pushes stage on)
            try:
                stat = os.statvfs(self._host.path(mountpoint))
            except OSError:
                continue
            size.add_metric([mountpoint], float(stat.f_blocks * stat.f_frsize))
            free.add_metric([mountpoint], float(stat.f_bavail * stat.f_frsize))
        return [size, free]

    def _info(self) -> Metric:
        info = InfoMetricFamily("meshkeeper_agent", "The agent's version and the node it runs on.")
        info.add_metric(
            [],
            {"version": __version__, "release": self._config.release, "model": self._config.model},
        )
        return info

    def _rollback(self) -> list[Metric]:
        try:
            text = self._host.path(ROLLBACKS).read_bytes()[-4096:].decode("utf-8", "replace")
        except OSError:  # never rolled back (or never pushed)
            return []
        last = parse_last_rollback(text)
        if last is None:
            return []
        family = GaugeMetricFamily(
            contract.M_CONFIG_ROLLBACK,
            "When the router last restored its previous config by itself (unix time).",
            labels=["reason"],
        )
        family.add_metric([last[1]], last[0])
        return [family]

    def _applied(self) -> list[Metric]:
        pending = GaugeMetricFamily(
            contract.M_CONFIG_PENDING,
            "1 while a push waits for the controller's confirm (rollback armed).",
            value=1.0 if self._host.path(PENDING).exists() else 0.0,
        )
        path: Path = self._host.path(APPLIED)
        if not path.exists():  # never pushed: nothing to say yet
            return [pending, *self._rollback()]
        try:
            generation, tree = parse_applied(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CollectorError(f"cannot read {APPLIED}: {exc}") from exc
        info = InfoMetricFamily(contract.M_CONFIG, "The config tree meshkeeper push applied.")
        info.add_metric([], {"hash": tree})
        return [
            GaugeMetricFamily(
                contract.M_CONFIG_GENERATION,
                "The generation of the config meshkeeper push applied.",
                value=float(generation),
            ),
            info,
            pending,
            *self._rollback(),
        ]


def build(config: AgentConfig, host: Host) -> SystemCollector:
    return SystemCollector(config, host)


SPEC = CollectorSpec("system", 15.0, build, "load, memory, uptime, flash, config generation")
