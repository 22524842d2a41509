"""`meshkeeper-agent probe` and `journal export`, run as a router's console would, against
targets on this machine's loopback only (nothing leaves 127.0.0.0/8)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.unit.agent.conftest import MINIMAL


def config(tmp_path: Path, port: int) -> Path:
    data: dict[str, Any] = {
        **MINIMAL,
        "probes": {
            "interval_seconds": 60,
            "gateway": False,
            "domestic": [
                {
                    "name": "local-web",
                    "address": "127.0.0.1",
                    "port": port,
                    "kinds": ["icmp", "tcp"],
                }
            ],
            "international": [
                {"name": "closed", "address": "127.0.0.2", "port": 9, "kinds": ["tcp"]}
            ],
        },
    }
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(data))
    return path


def agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_probe_once_prints_each_result_and_the_verdict_as_json(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        proc = agent(
            "probe", "--once", "--json", "--config", str(config(tmp_path, port)),
            "--state-dir", str(tmp_path / "state"),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    by_key = {(r["target"], r["kind"]): r for r in out["results"]}
    assert by_key[("local-web", "tcp")]["ok"] is True
    assert by_key[("local-web", "icmp")]["ok"] is True
    assert by_key[("closed", "tcp")]["failure"] == "connection_refused"
    assert [v["class"] for v in out["verdict"]] == ["ok"]  # one round: nothing entered yet
    assert [o["class"] for o in out["observed"]] == ["anomaly"]
    assert not (tmp_path / "state").exists(), "probe by hand writes nothing on flash"


def test_probe_text_output_says_what_was_seen(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        proc = agent("probe", "--once", "--config", str(config(tmp_path, port)))
    assert proc.returncode == 0, proc.stderr
    assert "FAIL international closed" in " ".join(proc.stdout.split())
    assert "anomaly{uplink=mesh,target=closed}" in proc.stdout
    assert "a class is entered after 3 agreeing rounds" in proc.stdout


def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    path.write_text("{}")
    proc = agent("probe", "--once", "--config", str(path))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_journal_export_of_an_empty_state_is_valid_openmetrics(tmp_path: Path) -> None:
    proc = agent("journal", "export", "--state-dir", str(tmp_path / "none"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("# EOF\n")
