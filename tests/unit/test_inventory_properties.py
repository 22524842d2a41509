"""Arbitrary YAML and arbitrary mutations of the example network never crash `check`.

Whatever an operator (or a broken editor) writes, meshkeeper answers with its
own InventoryError — never another exception, never a traceback — and writes
no file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.cli import cli
from controller.errors import InventoryError
from controller.model.load import load_inventory
from tests.conftest import EXAMPLE

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=40),
    st.sampled_from(["radio0", "gw-market", "5g", "23.05", "babel", "10.31.0.1", "{env: X}"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
settings_ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _snapshot(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in folder.rglob("*")}


def _check(folder: Path) -> None:
    before = _snapshot(folder)
    try:
        load_inventory(folder, resolve_secrets=True)
    except InventoryError as exc:
        assert exc.problems, "an InventoryError always says what is wrong"
        for problem in exc.problems:
            assert "\n" not in str(problem)
    assert _snapshot(folder) == before, "check must never write a file"


@settings_
@given(data=values)
def test_arbitrary_yaml_gives_only_inventory_errors(tmp_path: Path, data: Any) -> None:
    folder = tmp_path / "arbitrary"
    folder.mkdir(exist_ok=True)
    (folder / "inventory.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    _check(folder)


@settings_
@given(text=st.text(max_size=200))
def test_arbitrary_text_gives_only_inventory_errors(tmp_path: Path, text: str) -> None:
    folder = tmp_path / "text"
    folder.mkdir(exist_ok=True)
    (folder / "inventory.yaml").write_bytes(text.encode("utf-8", "surrogatepass"))
    _check(folder)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*prefix, index))
    return out


def _mutate(data: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        parent[f"{last}_extra"] = value
    else:
        parent[last] = value
    return data


EXAMPLE_FILES = sorted(p.name for p in EXAMPLE.glob("*.yaml"))


@settings_
@given(
    file=st.sampled_from(EXAMPLE_FILES),
    choice=st.integers(min_value=0),
    action=st.sampled_from(["replace", "delete", "add"]),
    value=values,
)
def test_mutations_of_the_example_give_only_inventory_errors(
    example_copy: Path, file: str, choice: int, action: str, value: Any
) -> None:
    target = example_copy / file
    original = target.read_text(encoding="utf-8")
    data = yaml.safe_load(original)
    paths = _paths(data)[1:]  # not the root itself: that is the arbitrary-YAML test
    path = paths[choice % len(paths)]
    target.write_text(yaml.safe_dump(_mutate(data, path, action, value)), encoding="utf-8")
    try:
        _check(example_copy)
    finally:
        target.write_text(original, encoding="utf-8")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=values)
def test_cli_never_prints_a_traceback(tmp_path: Path, data: Any) -> None:
    folder = tmp_path / "cli"
    folder.mkdir(exist_ok=True)
    (folder / "inventory.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", "-i", str(folder)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "problem(s) in the inventory" in result.output
    assert sorted(p.name for p in folder.iterdir()) == ["inventory.yaml"]
