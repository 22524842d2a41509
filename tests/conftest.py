"""Shared test helpers: where the project and the example network are."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "inventory"


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A private copy of the example inventory a test may edit."""
    target = tmp_path / "inventory"
    target.mkdir()
    for source in EXAMPLE.rglob("*"):
        dest = target / source.relative_to(EXAMPLE)
        if source.is_dir():
            dest.mkdir(exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(source.read_bytes())
    return target
