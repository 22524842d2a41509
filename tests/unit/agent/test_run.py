"""`meshkeeper-agent run` as a process: serves, waits for its address, stops on SIGTERM."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path, address: str, port: int) -> Path:
    config = tmp_path / "agent.json"
    config.write_text(
        json.dumps(
            {
                "version": 1, "node": "n", "network": "t", "role": "leaf",
                "release": "23.05", "model": "m",
                "listen": {"address": address, "port": port},
                "collectors": {"system": 1, "interfaces": 1},
            }
        )
    )  # fmt: skip
    return config


def start(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_run_serves_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, "127.0.0.1", port)
    agent = start(config)
    try:
        deadline = time.monotonic() + 20
        body = b""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read()
                    header = r.headers["Meshkeeper-Config-Sha256"]
                break
            except OSError:
                time.sleep(0.2)
        assert b'meshkeeper_collector_success{collector="system"} 1.0' in body
        assert header == hashlib.sha256(config.read_bytes()).hexdigest()
    finally:
        agent.send_signal(signal.SIGTERM)
        out, _ = agent.communicate(timeout=15)
    assert agent.returncode == 0, out
    assert "Traceback" not in out
    assert f"serving /metrics on 127.0.0.1:{port}" in out


def test_run_waits_for_its_address_instead_of_exiting(tmp_path: Path) -> None:
    """At boot the mesh address may not be configured yet: bind fails, the agent waits.
    (A documentation address no interface here has; binding it sends nothing.)"""
    config = write_config(tmp_path, "192.0.2.77", free_port())
    agent = start(config)
    try:
        time.sleep(2)
        assert agent.poll() is None  # still running, retrying
    finally:
        agent.send_signal(signal.SIGTERM)
        out, _ = agent.communicate(timeout=15)
    assert agent.returncode == 0, out
    assert "cannot listen on 192.0.2.77" in out
    assert out.count("cannot listen") == 1  # said once, not every retry
    assert "Traceback" not in out


def test_run_with_a_bad_config_exits_2_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    config.write_text('{"version": 1, "node": "n"}')
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"meshkeeper-agent: {config}: $.")
    assert "Traceback" not in result.stderr
