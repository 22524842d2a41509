"""One contract, not two copies: every name the controller and the agent share is
spelled once, in agent/contract.py, and both sides (and the inventory's schema)
take it from there. These tests fail when a name is spelled again elsewhere."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import contract
from agent.collectors import ALL
from agent.probes import PROBERS
from controller.model.load import load_inventory
from controller.render import agent_config
from controller.render.context import NodeContext
from controller.render.tree import SecretCache
from tests.conftest import EXAMPLE, ROOT

METRIC = re.compile(r"meshkeeper_[a-z_]+")
SHARED = {value for name, value in vars(contract).items() if name.startswith("M_")}
HEADERS = {contract.CONFIG_HEADER, contract.CONFIG_HIDDEN_HEADER, contract.CONFIG_PROOF_HEADER}
# Names with the prefix that are no metric: an nftables table the lab adds.
NOT_METRICS = {"meshkeeper_fault"}


def strings(folder: Path, skip: frozenset[Path] = frozenset()) -> Iterator[tuple[Path, int, str]]:
    for path in sorted(folder.rglob("*.py")):
        if path in skip or ".venv" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield path, node.lineno, node.value


@pytest.mark.parametrize("side", ["controller", "lab", "bench"])
def test_the_controller_side_never_spells_a_metric_or_header_name(side: str) -> None:
    spelled = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path, line, text in strings(ROOT / side)
        if (METRIC.fullmatch(text) and text not in NOT_METRICS) or text in HEADERS
    ]
    assert spelled == [], "take these from agent/contract.py"


def test_the_noc_s_rules_and_their_tests_never_spell_a_metric_name() -> None:
    """monitoring/ holds templates: `@M_VERDICT@`, `@JOB_CONTROLLER@` (controller/noc/rules.py)."""
    files = sorted(
        path for pattern in ("*.yml", "*.yaml") for path in (ROOT / "monitoring").rglob(pattern)
    )
    assert files, "monitoring/ has no rule templates"
    spelled = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if contract.METRIC_PREFIX in line
    ]
    assert spelled == [], "write @NAME@ for agent/contract.py's NAME"


def test_the_agent_takes_shared_names_from_the_contract() -> None:
    spelled = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path, line, text in strings(ROOT / "agent", frozenset({ROOT / "agent/contract.py"}))
        if text in SHARED or text in HEADERS
    ]
    assert spelled == [], "use the agent/contract.py constant"


def test_the_agent_has_exactly_the_contract_s_collectors_and_probes() -> None:
    assert tuple(spec.name for spec in ALL) == contract.COLLECTORS
    assert set(PROBERS) == set(contract.PROBE_KINDS)


def test_the_inventory_schema_lists_the_contract_s_probe_kinds() -> None:
    schema = json.loads((EXAMPLE / "schema.json").read_text())
    found = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if value.get("enum") and "icmp" in value["enum"]:
                found.append(tuple(value["enum"]))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(schema)
    assert found and set(found) == {contract.PROBE_KINDS}


def test_the_controller_renders_the_contract_s_default_collectors() -> None:
    inv = load_inventory(EXAMPLE, resolve_secrets=False)
    secrets = SecretCache(inv)
    for name, node in inv.nodes.items():
        ctx = NodeContext(inv, node, inv.plan[name], secrets)
        expected = contract.default_collectors(
            ctx.protocol if ctx.meshed else None,
            radios=bool(node.radios),
            neighbours=bool(ctx.links),
        )
        assert agent_config.collectors(ctx) == expected, name
