"""The agent's service files: the procd init script's logic, and the systemd unit."""

from __future__ import annotations

import configparser
import shlex
import subprocess
from pathlib import Path

AGENT = Path(__file__).resolve().parents[3] / "agent"
INIT = AGENT / "openwrt" / "meshkeeper-agent.init"
UNIT = AGENT / "systemd" / "meshkeeper-agent.service"
# procd's shell API, recorded instead of executed (there is no procd here)
FAKE_PROCD = """
procd_open_instance() { echo "open"; }
procd_set_param() { echo "param $*"; }
procd_close_instance() { echo "close"; }
logger() { echo "logger $*"; }
. "$1"
CONFIG="$2"
start_service
echo "rc=$?"
"""


def start_service(config: Path) -> list[str]:
    result = subprocess.run(
        ["sh", "-c", FAKE_PROCD, "sh", str(INIT), str(config)],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return result.stdout.splitlines()


def test_init_script_is_valid_sh() -> None:
    assert subprocess.run(["sh", "-n", str(INIT)], check=False).returncode == 0
    assert INIT.read_text().startswith("#!/bin/sh /etc/rc.common\n")
    assert "USE_PROCD=1" in INIT.read_text()


def test_procd_instance_restarts_on_config_change_and_respawns(tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    config.write_text("{}")
    assert start_service(config) == [
        "open",
        f"param command /usr/bin/meshkeeper-agent run --config {config}",
        f"param file {config}",
        "param respawn 3600 30 0",
        "param stdout 1",
        "param stderr 1",
        "close",
        "rc=0",
    ]


def test_no_config_yet_is_logged_and_nothing_started(tmp_path: Path) -> None:
    lines = start_service(tmp_path / "missing.json")
    assert "open" not in lines
    assert lines[-1] == "rc=1"
    assert lines[0].startswith("logger -t meshkeeper-agent not started: no ")


def test_systemd_unit_runs_the_agent_and_restarts_it() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT)
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert Path(argv[0]).name == "meshkeeper-agent"
    assert argv[1:] == ["run", "--config", "/etc/meshkeeper/agent.json"]
    assert unit["Service"]["Restart"] == "always"
    capabilities = unit["Service"]["AmbientCapabilities"].split()
    assert "CAP_NET_RAW" in capabilities  # raw ICMP echoes
    assert "CAP_NET_ADMIN" in capabilities  # batman-adv's admin-only netlink dumps
    assert set(capabilities) <= set(unit["Service"]["CapabilityBoundingSet"].split())
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_path_unit_restarts_the_agent_on_a_new_config() -> None:
    path = configparser.ConfigParser(strict=False, interpolation=None)
    path.read(UNIT.with_suffix(".path"))
    assert path["Path"]["PathChanged"] == "/etc/meshkeeper/agent.json"
    restart = configparser.ConfigParser(strict=False, interpolation=None)
    restart.read(UNIT.with_name(path["Path"]["Unit"]))
    argv = shlex.split(restart["Service"]["ExecStart"])
    assert argv[1:] == ["restart", UNIT.name]  # the first agent.json must start it
