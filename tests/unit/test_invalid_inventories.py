"""The invalid-inventory corpus: one defect per fixture, each with its exact problems.

`tests/fixtures/inventory/invalid-*.yaml` are copies of `valid-minimal.yaml` with
one defect each. Their first lines, `# expect: FILE:LINE:COL: field: what — todo`,
are the problems `meshkeeper check` must report: no more, no fewer, none twice.
A directory `invalid-*/` is a multi-file inventory whose `EXPECT` file lists them.

Each fixture is loaded from inside its own directory, as an operator runs
`meshkeeper check` there, so every path in a message (the location, "also defined
at ...", a secret file) is the short relative one the expectation spells.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller.errors import InventoryError
from controller.model.load import load_inventory

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "inventory"
VALID = FIXTURES / "valid-minimal.yaml"
EXPECT_PREFIX = "# expect: "
UNSET_ENV = "MESHKEEPER_FIXTURE_NEVER_SET"  # invalid-secret-env-unset.yaml names it
PASTED_KEY = "correct-horse-battery"  # invalid-secret-plain-string.yaml pastes it
MESHKEEPER = Path(sys.executable).with_name("meshkeeper")

# Fixtures that state the problems meshkeeper SHOULD report; the product does not yet.
KNOWN_BUGS: dict[str, str] = {}


def _corpus(*, mark_known_bugs: bool = False) -> list[pytest.ParameterSet]:
    fixtures = sorted(FIXTURES.glob("invalid-*.yaml")) + sorted(
        p for p in FIXTURES.glob("invalid-*") if p.is_dir()
    )
    return [
        pytest.param(
            path,
            id=path.name,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[path.name])]
            if mark_known_bugs and path.name in KNOWN_BUGS
            else [],
        )
        for path in fixtures
    ]


def expected_problems(fixture: Path) -> list[str]:
    if fixture.is_dir():
        return (fixture / "EXPECT").read_text(encoding="utf-8").splitlines()
    lines = fixture.read_text(encoding="utf-8").splitlines()
    expected = []
    for line in lines:
        if not line.startswith(EXPECT_PREFIX):
            break
        expected.append(line.removeprefix(EXPECT_PREFIX))
    return expected


def reported_problems(fixture: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(fixture if fixture.is_dir() else fixture.parent)
    target = Path() if fixture.is_dir() else Path(fixture.name)
    with pytest.raises(InventoryError) as caught:
        load_inventory(target, resolve_secrets=True)
    return [str(problem) for problem in caught.value.problems]


def secret_texts() -> list[str]:
    files = (FIXTURES / "secrets").iterdir()
    return [PASTED_KEY, *(f.read_text(encoding="utf-8").strip() for f in files)]


@pytest.fixture(autouse=True)
def _unset_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UNSET_ENV, raising=False)


def test_the_corpus_is_complete() -> None:
    fixtures = [param.values[0] for param in _corpus()]
    assert len(fixtures) >= 35
    for path in fixtures:
        assert isinstance(path, Path)
        assert expected_problems(path), f"{path.name} states no expected problem"
    names = {path.name for path in fixtures}
    assert set(KNOWN_BUGS) <= names, "a KNOWN_BUGS entry names no fixture"
    pasted = FIXTURES / "invalid-secret-plain-string.yaml"
    assert PASTED_KEY in pasted.read_text(encoding="utf-8")


@pytest.mark.parametrize("fixture", _corpus(mark_known_bugs=True))
def test_invalid_inventory_reports_exactly_its_problems(
    fixture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A list, not a set: the same problem printed twice is a defect too.
    assert sorted(reported_problems(fixture, monkeypatch)) == sorted(expected_problems(fixture))


@pytest.mark.parametrize("fixture", _corpus())
def test_no_message_contains_a_secret(fixture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reported = "\n".join(reported_problems(fixture, monkeypatch))
    for secret in secret_texts():
        assert secret not in reported


def test_valid_minimal_loads_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    inventory = load_inventory(Path(VALID.name), resolve_secrets=True)
    assert sorted(inventory.nodes) == ["gw-one", "leaf-three", "relay-two"]
    assert [node.name for node in inventory.gateways()] == ["gw-one"]
    assert len(inventory.links) == 2


@pytest.mark.parametrize("release", ["23.05", "24.10"])
def test_unquoted_release_is_the_text_written(release: str, tmp_path: Path) -> None:
    # YAML 1.1 would read 23.05 as a float and 24.10 as 24.1.
    text = VALID.read_text(encoding="utf-8")
    assert text.count('  release: "23.05"\n') == 1
    inventory_file = tmp_path / "inventory.yaml"
    inventory_file.write_text(text.replace('"23.05"', release), encoding="utf-8")
    inventory = load_inventory(inventory_file, resolve_secrets=False)
    assert {node.release for node in inventory.nodes.values()} == {release}


CLI_CASES = [
    "invalid-node-field-typo.yaml",
    "invalid-node-name.yaml",
    "invalid-secret-plain-string.yaml",
    "invalid-dir-duplicate-node",
]


@pytest.mark.parametrize("name", CLI_CASES)
def test_check_prints_the_problems_and_exits_2(name: str) -> None:
    fixture = FIXTURES / name
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"MESHKEEPER_INVENTORY", "MESHKEEPER_DEBUG", UNSET_ENV}
    }
    result = subprocess.run(
        [str(MESHKEEPER), "check", "-i", "." if fixture.is_dir() else fixture.name],
        cwd=fixture if fixture.is_dir() else FIXTURES,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    expected = expected_problems(fixture)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [*expected, f"{len(expected)} problem(s) in the inventory"]
    for secret in secret_texts():
        assert secret not in result.stderr
