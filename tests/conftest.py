"""Shared test helpers: where the project and the example network are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.services.serve import Services

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "inventory"


LAB_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoldenGoldenGoldenGoldenGoldenGoldenGolden0"
    " meshkeeper-lab"
)


LAB_RSA_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAIGoldenRsaGoldenRsaGoldenRsaGoldenRsaGolden0"
    " meshkeeper-lab"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite golden files from the current output instead of comparing",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


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
    # The practice lab creates this key; tests use a fixed one so output is stable.
    key = tmp_path / ".meshkeeper" / "lab" / "controller_ed25519.pub"
    key.parent.mkdir(parents=True)
    key.write_text(LAB_KEY + "\n", encoding="utf-8")
    key.with_name("controller_rsa.pub").write_text(LAB_RSA_KEY + "\n", encoding="utf-8")
    return target


@pytest.fixture
def services() -> Iterator[Services]:
    """The lab's services program driven in-process (lab/services): real DNS, HTTP and
    TLS servers for the tests that bind them on loopback; stopped after the test."""
    running = Services()
    yield running
    running.stop(0.5)
