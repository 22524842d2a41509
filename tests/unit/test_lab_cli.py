"""`meshkeeper lab keys` and how `lab up` waits, without building a lab (no root)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import cli
from lab.cli import lab as lab_cli
from tests.conftest import EXAMPLE, ROOT


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Path:
    """The example inventory as a fresh clone has it: no .meshkeeper/ beside it."""
    inventory = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, inventory)
    return inventory


def test_lab_keys_makes_the_keys_the_example_logs_in_with(fresh_clone: Path) -> None:
    before = CliRunner().invoke(cli, ["check", "-i", str(fresh_clone)])
    assert before.exit_code == 2
    assert "controller_ed25519.pub" in before.output

    made = CliRunner().invoke(lab_cli, ["keys", "-i", str(fresh_clone)])
    assert made.exit_code == 0, made.output
    lab = fresh_clone.parent / ".meshkeeper" / "lab"
    for key in ("controller_ed25519", "controller_rsa"):
        assert f"made {lab / key}" in made.output
        assert (lab / key).read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
        assert (lab / key).stat().st_mode & 0o077 == 0
    assert (lab / "controller_rsa.pub").read_text().startswith("ssh-rsa ")

    after = CliRunner().invoke(cli, ["check", "-i", str(fresh_clone)])
    assert after.exit_code == 0, after.output

    again = CliRunner().invoke(lab_cli, ["keys", "-i", str(fresh_clone)])
    assert again.exit_code == 0 and "already exist" in again.output
    assert "made" not in again.output


@pytest.mark.parametrize(
    ("args", "waited"),
    [([], 120.0), (["--wait", "30"], 30.0), (["--no-wait"], None)],
)
def test_lab_up_waits_for_every_router_unless_told_not_to(
    fresh_clone: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], waited: float | None
) -> None:
    import lab.build
    from lab.plan import lab_plan

    calls: list[float] = []
    monkeypatch.setattr(lab.build, "up", lambda inv: lab_plan(inv))

    def wait(inv: object, timeout: float) -> float:
        calls.append(timeout)
        return 7.5

    monkeypatch.setattr(lab.build, "wait_reachable", wait)
    CliRunner().invoke(lab_cli, ["keys", "-i", str(fresh_clone)])
    result = CliRunner().invoke(lab_cli, ["up", "-i", str(fresh_clone), *args])
    assert result.exit_code == 0, result.output
    assert calls == ([] if waited is None else [waited])
    assert ("every router reachable from the NOC 7.5 s" in result.output) == (waited is not None)


def test_every_lab_test_module_is_marked_lab() -> None:
    """scripts/run-tests runs `-m lab` and `-m "not lab"` side by side: an unmarked lab
    test would build a second lab in the other half (conftest's pytestmark does not
    reach test modules), and the two would tear each other down."""
    unmarked = [
        path.name
        for path in sorted((ROOT / "tests/lab").glob("test_*.py"))
        if "pytestmark = pytest.mark.lab" not in path.read_text(encoding="utf-8")
    ]
    assert unmarked == []
