"""The emulated internet's services: resolvers, web and TLS endpoints, and what
faults make them say.

    mki-ISP   the ISP's resolver (its `isp` probe targets' address)
    mk-ix     domestic endpoints (198.19.0.0/16): HTTP on 80, HTTPS on 443
    mk-inet   the international resolver 198.18.0.53 and every international and
              platform endpoint (198.18.0.0/16); 198.18.0.99 runs no resolver

Every resolver answers the same lab zone (`.test`): each probe target's host
name → its address. Certificates come from the lab CA (routers trust it:
/etc/ssl/certs/meshkeeper-lab-ca.crt). A services process per namespace reads
a JSON config (lab/services); faults rewrite the configs and SIGHUP them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from controller.model.inventory import Inventory
from controller.model.schema import Target
from lab.host import LabError, pids_in, spawn_detached
from lab.paths import LabPaths
from lab.plan import EXCHANGE_NS, INTERNET_NS, INTERNET_RESOLVER, NON_RESOLVER, LabPlan
from lab.services.ca import LabCA

SINKHOLE = "198.18.66.6"  # where a lying resolver sends people: nothing listens there
ZONE = "test"


def _targets(inv: Inventory) -> list[tuple[str, Target]]:
    tiers = inv.probes.tiers
    return [
        (tier, target)
        for tier in ("isp", "domestic", "international", "platforms")
        for target in getattr(tiers, tier)
    ]


def records(inv: Inventory) -> dict[str, str]:
    return {t.host: t.address for _, t in _targets(inv) if t.host and t.address}


def platform_hosts(inv: Inventory) -> dict[str, str]:
    """Platform name → its host name."""
    return {t.name: t.host for t in inv.probes.tiers.platforms if t.host}


def configs(
    inv: Inventory, plan: LabPlan, paths: LabPaths, faults: list[tuple[str, tuple[str, ...]]]
) -> dict[str, dict[str, Any]]:
    """The services config of every upstream namespace, given the active faults."""
    zone = records(inv)
    tamper: dict[str, Any] = {}
    tamper_at: dict[str, dict[str, Any]] = {}  # one resolver only: by its namespace
    injected: list[str] = []
    http_block: dict[str, str] = {}
    tls_block: dict[str, str] = {}
    for kind, args in faults:
        if kind == "dns-tamper":
            names, mode, at = _tamper_args(inv, args)
            lies = tamper if at is None else tamper_at.setdefault(_resolver_ns(plan, at), {})
            for name in names:
                lies[name] = (
                    {"mode": mode, "address": SINKHOLE} if mode in ("lie", "inject") else mode
                )
            if mode == "inject":
                injected += names
        elif kind == "platform-block":
            host = platform_hosts(inv)[args[0]]
            layer = args[1] if len(args) > 1 else "tcp"
            if layer == "dns":
                tamper[host] = "nxdomain"
            elif layer == "http":
                http_block[host] = "blockpage"
            elif layer == "tls-sni":
                tls_block[host] = "reset"
    resolver = {"port": 53, "tcp": True, "zones": [ZONE], "records": zone, "tamper": tamper}
    out: dict[str, dict[str, Any]] = {}

    def lying(netns: str) -> dict[str, Any]:
        return {**resolver, "tamper": {**tamper, **tamper_at.get(netns, {})}}

    for isp in plan.isps.values():
        out[isp.namespace] = {"dns": [{"listen": str(isp.resolver), **lying(isp.namespace)}]}
    ca = LabCA(paths.root / "pki")
    ca.ensure()
    for netns, tiers in (
        (EXCHANGE_NS, ("domestic",)),
        (INTERNET_NS, ("international", "platforms")),
    ):
        config: dict[str, Any] = {"http": [], "tls": []}
        for tier, target in _targets(inv):
            if tier not in tiers or not target.address or not target.host:
                continue
            site = {target.host: f"{target.name}: reached the lab's {tier} endpoint\n"}
            pair = ca.issue(target.name, [target.host, target.address])
            config["http"].append(
                {
                    "listen": target.address,
                    "port": 80,
                    "sites": site,
                    "block": http_block,
                    "bulk_max_bytes": 10_000_000,
                }
            )
            config["tls"].append(
                {
                    "listen": target.address,
                    "port": 443,
                    "sites": site,
                    "block": tls_block,
                    "certificates": [
                        {"names": [target.host], "cert": str(pair.cert), "key": str(pair.key)}
                    ],
                }
            )
        out[netns] = config
    out[INTERNET_NS]["dns"] = [{"listen": str(INTERNET_RESOLVER), **lying(INTERNET_NS)}]
    if injected:
        out[INTERNET_NS]["dns_injector"] = [
            {"listen": str(NON_RESOLVER), "address": SINKHOLE, "names": injected}
        ]
    return out


TAMPER_MODES = ("lie", "nxdomain", "bogon", "inject", "servfail", "drop")
INTERNATIONAL = "international"  # at=international: the resolver abroad, 198.18.0.53


def _tamper_args(inv: Inventory, args: tuple[str, ...]) -> tuple[list[str], str, str | None]:
    """(names, mode, at): `at=ISP` or `at=international` tampers at that resolver only."""
    at = next((a.removeprefix("at=") for a in args if a.startswith("at=")), None)
    names = [a for a in args if a not in TAMPER_MODES and not a.startswith("at=")]
    mode = next((a for a in args if a in TAMPER_MODES), "lie")
    return (names or sorted(platform_hosts(inv).values())), mode, at


def _resolver_ns(plan: LabPlan, at: str) -> str:
    if at == INTERNATIONAL:
        return INTERNET_NS
    if at not in plan.isps:
        raise LabError(
            f"at={at}: no such resolver — one of: {', '.join([*plan.isps, INTERNATIONAL])}"
        )
    return plan.isps[at].namespace


def ca_cert(paths: LabPaths) -> Path:
    return LabCA(paths.root / "pki").ensure()


def start(
    inv: Inventory, plan: LabPlan, paths: LabPaths, faults: list[tuple[str, tuple[str, ...]]]
) -> None:
    """Write every config; start the services that are not running, SIGHUP the others."""
    folder = paths.root / "services"
    folder.mkdir(parents=True, exist_ok=True)
    for netns, config in configs(inv, plan, paths, faults).items():
        path = folder / f"{netns}.json"
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        pid_file = folder / f"{netns}.pid"
        pid = _pid(pid_file)
        if pid is not None and pid in pids_in(netns):
            os.kill(pid, signal.SIGHUP)
            continue
        pid = spawn_detached(
            [
                "nsenter",
                f"--net=/run/netns/{netns}",
                "--",
                sys.executable,
                "-m",
                "lab.services.serve",
                "--config",
                str(path),
            ],
            folder / f"{netns}.log",
        )
        pid_file.write_text(f"{pid}\n", encoding="utf-8")
    _wait_listening(plan)


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _wait_listening(plan: LabPlan, timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    probe = [str(a) for a in plan.international]
    while time.monotonic() < deadline:
        result = subprocess.run(
            ["ip", "netns", "exec", INTERNET_NS, "ss", "-Hltn"],
            capture_output=True,
            text=True,
            check=False,
        )
        if all(
            f"{address}:443" in result.stdout
            for address in probe
            if ipaddress.IPv4Address(address) != INTERNET_RESOLVER
        ):
            return
        time.sleep(0.1)
    raise LabError("the lab's internet services did not start — see .meshkeeper/lab/services/")
