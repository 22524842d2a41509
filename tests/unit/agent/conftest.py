"""Helpers for the agent's tests: fixture paths, exposition, promtool."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# The smallest agent.json `meshkeeper-agent check` accepts.
MINIMAL: dict[str, Any] = {
    "version": 1,
    "node": "leaf-test",
    "network": "riverside",
    "role": "leaf",
    "release": "23.05",
    "model": "TP-Link Archer C6 v3",
    "listen": {"address": "10.31.0.9", "port": 9110},
}


class Families:
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> list[Metric]:
        return self.families


def registry_of(families: Iterable[Metric]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Families(families))
    return registry


def exposition(families: Iterable[Metric]) -> str:
    return generate_latest(registry_of(families)).decode()


def promtool_problems(text: str) -> str:
    """What `promtool check metrics` says about an exposition ("" when clean)."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: debian-packages.txt installs prometheus"
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    return (result.stdout + result.stderr).strip() if result.returncode else ""
