"""The CLI on the example network, the committed JSON Schema, and strict YAML scalars."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from controller.model.jsonschema import inventory_schema, schema_text
from controller.model.load import load_inventory
from controller.model.yamlsource import load_text
from tests.conftest import EXAMPLE, ROOT

MESHKEEPER = [sys.executable, "-m", "controller"]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MESHKEEPER, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_committed_schema_is_in_sync() -> None:
    committed = (EXAMPLE / "schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), "run `make schema` and commit inventory/schema.json"


def test_schema_flags_unknown_keys_but_requires_nothing() -> None:
    schema = inventory_schema()
    assert schema["additionalProperties"] is False
    node = schema["$defs"]["NodeSettings"]
    assert node["additionalProperties"] is False
    assert {"radios", "ssh", "release", "uplinks"} <= set(node["properties"])
    assert "required" not in json.dumps(schema)


def test_check_accepts_the_example(example_copy: Path) -> None:
    result = run("check", cwd=example_copy.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "riverside: 8 nodes, 11 links — ok\n"


def test_check_reports_located_problems_and_exits_2(example_copy: Path) -> None:
    nodes = example_copy / "nodes.yaml"
    nodes.write_text(nodes.read_text().replace("    id: 5\n", "    id: 5\n    chanel: 3\n"))
    result = run("check", "--inventory", str(example_copy))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"{nodes}:39:5: nodes.leaf-bus-stop.chanel: is not a known field — "
        "remove it or use one of: access_points, agent, description, id, lan, "
        "management, mesh, mesh_address, model, profile, radios, release, "
        "role, ssh, switch, uplinks"
    )
    assert lines[-1] == "1 problem(s) in the inventory"
    assert "Traceback" not in result.stderr


def test_inventory_env_variable_is_honoured(tmp_path: Path, example_copy: Path) -> None:
    result = subprocess.run(
        [*MESHKEEPER, "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={
            "MESHKEEPER_INVENTORY": str(example_copy),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
        },
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_missing_inventory_is_a_clear_error(tmp_path: Path) -> None:
    result = run("check", "-i", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"{tmp_path / 'nowhere'}: no inventory here — pass --inventory PATH, set "
        "MESHKEEPER_INVENTORY, or run where ./inventory is"
    )


def test_inventory_show_node_redacts_nothing_secret() -> None:
    result = run("inventory", "show", "gw-market")
    assert result.returncode == 0, result.stderr
    assert "mesh_address: 10.31.0.1" in result.stdout
    assert "lan_subnet: 10.32.1.0/24" in result.stdout
    assert "ula_prefix: fd12:aea5:f4cd::/48" in result.stdout  # the network's, stable
    assert "file: secrets/staff-wifi.key" in result.stdout  # the reference, not the key
    secret = (EXAMPLE / "secrets" / "staff-wifi.key").read_text().strip()
    assert secret not in result.stdout


def test_inventory_show_layers_profile_and_defaults() -> None:
    inv = load_inventory(EXAMPLE)
    library = inv.nodes["leaf-library"]
    assert library.release == "19.07"  # node wins over defaults
    assert library.model == "TP-Link TL-WDR4300 v1"  # node wins over profile
    assert library.role == "leaf"  # from profile
    assert library.radios["radio0"].channel == 6  # from defaults
    assert library.ssh.legacy_rsa is True and library.ssh.user == "root"  # deep merge
    relay = inv.nodes["relay-water-tower"]
    assert relay.access_points == []  # a profile's empty list replaces the default list


def test_inventory_show_table_lists_every_node() -> None:
    result = run("inventory", "show")
    assert result.returncode == 0
    rows = result.stdout.splitlines()
    assert rows[0].split() == [
        "NODE",
        "ROLE",
        "RELEASE",
        "PROFILE",
        "MESH",
        "ADDRESS",
        "LAN",
        "LINKS",
    ]
    assert len(rows) == 9


def test_unknown_node_in_show() -> None:
    result = run("inventory", "show", "nope")
    assert result.returncode == 2
    assert "nodes.nope: no such node — use one of: gw-market" in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("country: NO", "NO"),  # not YAML 1.1's False
        ("release: 23.05", "23.05"),  # not the float 23.05
        ("release: 24.10", "24.10"),  # not 24.1
        ("at: 22:30", "22:30"),  # not sexagesimal 1350
        ("on: yes", "yes"),
        ("n: 36", 36),
        ("flag: true", True),
        ("nothing: ~", None),
        ("date: 2026-11-26", "2026-11-26"),
    ],
)
def test_yaml_scalars_mean_what_the_operator_wrote(text: str, expected: object) -> None:
    result = load_text(text, "t.yaml")
    assert result.document is not None
    assert list(result.document.data.values()) == [expected]


def test_duplicate_keys_are_all_reported() -> None:
    result = load_text("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", "t.yaml")
    assert [str(p) for p in result.problems] == [
        "t.yaml:4:3: b.c: duplicate key: only one value can count — remove or rename one of "
        "the duplicates",
        "t.yaml:5:1: a: duplicate key: only one value can count — remove or rename one of the "
        "duplicates",
    ]
