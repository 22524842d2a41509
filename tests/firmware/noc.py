"""The NOC's end of a firmware router's cable: an inventory for that one router, and
`meshkeeper` run on it from the root namespace, as an operator runs it.

The inventory follows the example network's layout (network, defaults, nodes),
cut down to what this router has (../shared/openwrt/README.md, "What differs"):
no radios and no babeld or batman-adv, so no mesh; no bridges, so the LAN has no
ports; eth1 is an unplugged WAN cable. The NOC's cable is the router's eth0
(`noc.port`), and the node's planned address — its mesh address, which the `noc`
interface carries — is 10.99.N.<slot>, which the root namespace reaches over that
cable. The SSH key is the harness's RSA key (dropbear 2022.82 takes rsa-sha2).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.firmware.conftest import STATE, Router

MESHKEEPER = str(Path(sys.executable).with_name("meshkeeper"))


@dataclass(frozen=True)
class NodeSpec:
    """What a test varies in the router's inventory."""

    name: str
    slot: int  # its planned address is 10.99.N.<slot>
    ssh_port: int = 22
    noc_port: str = "eth0"  # the router's port the NOC's cable plugs into
    timezone: str = "Africa/Nairobi"
    lan_dhcp: bool = True
    static_uplink: bool = False  # a second uplink, static, on eth1
    babel_port: str | None = None  # take part in a babel mesh over this wired port


@dataclass
class Noc:
    router: Router
    folder: Path  # the inventory directory; .meshkeeper/ (state, known_hosts) is beside it

    def address(self, spec: NodeSpec) -> str:
        return f"{self.router.subnet}.{spec.slot}"

    def write(self, spec: NodeSpec) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STATE / "keys" / "id_rsa.pub", self.folder / "id_rsa.pub")
        for name, data in _inventory(self.router, spec).items():
            (self.folder / f"{name}.yaml").write_text(
                yaml.safe_dump(data, sort_keys=False), encoding="utf-8"
            )
        check = self.meshkeeper("check")
        assert check.returncode == 0, f"the test's inventory is invalid:\n{check.stderr}"

    def meshkeeper(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MESHKEEPER, *args, "--inventory", str(self.folder)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def push_command(self, *args: str) -> list[str]:
        return [MESHKEEPER, "push", "--json", *args, "--inventory", str(self.folder)]

    def push(self, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        """`meshkeeper push --json ARGS`: the run, and the one node's result."""
        run = self.meshkeeper("push", "--json", *args)
        return run, one_result(run.stdout, run.stderr)

    def status(self, node: str) -> dict[str, Any]:
        run = self.meshkeeper("status", "--json", "--offline")
        assert run.returncode in (0, 1), run.stderr  # 1: a router needs a look
        rows = {row["node"]: row for row in json.loads(run.stdout)}
        assert node in rows, f"status --json has no {node}: {run.stdout}"
        row: dict[str, Any] = rows[node]
        return {**row, "status": row["push"], "generation": row["pushed"]}


def one_result(stdout: str, stderr: str) -> dict[str, Any]:
    """The single node result of `push --json` (an AssertionError with the output if none)."""
    try:
        results = json.loads(stdout)
    except ValueError:
        raise AssertionError(f"push printed no JSON:\n{stdout}\n{stderr}") from None
    assert isinstance(results, list) and len(results) == 1, f"{stdout}\n{stderr}"
    result: dict[str, Any] = results[0]
    return result


def _inventory(router: Router, spec: NodeSpec) -> dict[str, dict[str, Any]]:
    mesh: dict[str, Any] = {"enabled": False}
    if spec.babel_port is not None:
        mesh = {"enabled": True, "protocol": "babel", "ports": [spec.babel_port]}
    uplinks: list[dict[str, Any]] = [{"isp": "isp-wan", "proto": "dhcp", "port": "eth1"}]
    if spec.static_uplink:  # TEST-NET-1 on the unplugged cable: nothing leaves the router
        uplinks.append(
            {
                "isp": "isp-wan",
                "proto": "static",
                "port": "eth1",
                "address": "192.0.2.2/30",
                "gateway": "192.0.2.1",
            }
        )
    return {
        "network": {
            "network": {
                "name": f"firmware-{router.number}",
                "country": "KE",
                "timezone": spec.timezone,
            },
            # required; this router takes part in no mesh unless babel_port is set
            "mesh": {"protocol": "babel", "mesh_id": "firmware", "band": "5g", "channel": 36},
            "addressing": {"mesh": f"{router.subnet}.0/24", "lan": "10.100.0.0/16"},
            "isps": {"isp-wan": {"description": "eth1, an unplugged WAN cable"}},
            "noc": {"address": router.noc_address, "entry": spec.name, "port": spec.noc_port},
        },
        "defaults": {
            "defaults": {
                "release": "22.03",
                "ssh": {
                    "port": spec.ssh_port,
                    "key_file": str(STATE / "keys" / "id_rsa"),
                    # a copy inside the inventory: secret files live nowhere else
                    "authorized_keys": [{"file": "id_rsa.pub"}],
                },
                "radios": {},
                "access_points": [],
                "lan": {"ports": [], "dhcp": spec.lan_dhcp},
                # no meshkeeper-agent package on this router
                "agent": {"enabled": False},
            }
        },
        "nodes": {
            "nodes": {
                spec.name: {
                    "id": spec.slot,
                    "role": "gateway",
                    "model": "OpenWrt 22.03.4 x86/64 (owrt-node.sh)",
                    "mesh": mesh,
                    "uplinks": uplinks,
                }
            }
        },
    }
