"""Hostile inventories: each is refused fast, one located line per problem, exit 2.

From an adversarial review, by class:
- YAML that expands without bound (alias bombs) or nests without end;
- names with an invisible extra character (a trailing newline passes `^...$`);
- errors that broke the `FILE:LINE:COL: field: what — todo` contract;
- directory entries that were skipped silently (links, pipes, devices) or are huge.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
from click.testing import CliRunner
from pydantic import Field, TypeAdapter, ValidationError

from controller.cli import cli
from controller.errors import InventoryError, Problem
from controller.model import types
from controller.model.jsonschema import inventory_schema
from controller.model.load import load_inventory
from controller.model.schema import EMAIL
from controller.model.yamlsource import MAX_FILE_BYTES, load_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "inventory"
VALID = (FIXTURES / "valid-minimal.yaml").read_text(encoding="utf-8")
MESHKEEPER = [sys.executable, "-m", "controller"]
LOCATED = re.compile(r"(?P<file>[^:]+):(?P<line>[1-9][0-9]*):(?P<col>[1-9][0-9]*): ")
NODE_NAME_PATTERN = "^(?!-)[a-z0-9-]{1,63}(?<!-)$"
LONGEST_LINE = 400  # an echoed value is cut to ~60 characters; the rest is the message


def check(target: Path, *, secrets: bool = False) -> list[str]:
    """`meshkeeper check` in-process: its stderr lines, after asserting exit 2."""
    no_secrets = [] if secrets else ["--no-secrets"]
    result = CliRunner().invoke(cli, ["check", *no_secrets, "-i", str(target)])
    assert result.exit_code == 2, (result.exception, result.output)
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[-1] == f"{len(lines) - 1} problem(s) in the inventory"
    for line in lines:
        assert line.isprintable(), line
        assert len(line) <= LONGEST_LINE, line[:200]
    return lines[:-1]


def run_check(cwd: Path, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """The real command in its own process: a hang or a blow-up cannot take the tests along."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"MESHKEEPER_INVENTORY", "MESHKEEPER_DEBUG"}
    }
    return subprocess.run(
        [*MESHKEEPER, "check", "--no-secrets", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def problems(target: Path) -> list[Problem]:
    with pytest.raises(InventoryError) as caught:
        load_inventory(target, resolve_secrets=False)
    return caught.value.problems


def edit(old: str, new: str, text: str = VALID) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def line_of(text: str, marker: str) -> int:
    return text[: text.index(marker)].count("\n") + 1


# --- 2. alias bombs and endless nesting ----------------------------------------


def laughs(levels: int = 9, *, opening: str = "[", closing: str = "]", key: bool = False) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        name, prev = chr(ord("a") + level), chr(ord("a") + level - 1)
        if opening == "{":
            items = ", ".join(f"k{i}: *{prev}" for i in range(9))
        else:
            items = ",".join([f"*{prev}"] * 9)
        lines.append(f"{name}: &{name} {opening}{items}{closing}")
    if key:
        lines.append(f"bomb: {{? *{chr(ord('a') + levels - 1)} : x}}")
    return "\n".join(lines) + "\n"


def merge_laughs() -> str:
    lines = ["a: &a {x: 1, y: 2}"]
    for level in range(1, 10):
        name, prev = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} {{<<: [{', '.join([f'*{prev}'] * 9)}], z{level}: 1}}")
    return "\n".join(lines) + "\n"


def flat_aliases() -> str:
    big = "{" + ", ".join(f"k{i}: value{i}" for i in range(1000)) + "}"
    return f"big: &big {big}\nmany: [{', '.join(['*big'] * 20000)}]\n"


def long_text_aliases() -> str:
    big = "x" * 1_000_000  # each alias to it is checked for control characters again
    servers = "  ntp_servers: [pool.ntp.org]\n"
    return (
        edit(servers, f"  ntp_servers: [*big{', *big' * 4999}]\n")
        .replace("network:\n", f"network:\n  description: &big {big}\n", 1)
        .replace("  description: Minimal network for the invalid-inventory corpus\n", "")
    )


BOMBS = {
    "laughs-in-lists": laughs(),
    "laughs-in-mappings": laughs(opening="{", closing="}"),
    "laughs-as-a-key": laughs(8, key=True),
    "laughs-through-merge-keys": merge_laughs(),
    "one-big-anchor-many-aliases": flat_aliases(),
    "one-long-text-many-aliases": long_text_aliases(),
    "laughs-deep-inside-an-inventory": "x-bomb:\n"
    + "".join(f"  {line}\n" for line in laughs().splitlines()),
}


@pytest.mark.parametrize("text", BOMBS.values(), ids=BOMBS.keys())
def test_alias_bombs_are_refused_fast_with_a_located_error(text: str, tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(text, encoding="utf-8")
    started = time.monotonic()
    result = run_check(tmp_path, "-i", "bomb.yaml", timeout=15)
    assert time.monotonic() - started < 5  # the process, imports included
    assert result.returncode == 2, result.stderr[-500:]
    assert "Traceback" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert LOCATED.match(first) and first.startswith("bomb.yaml:"), first
    assert "alias" in first, first
    started = time.monotonic()
    loaded = load_text(text, "bomb.yaml")
    assert time.monotonic() - started < 1
    assert loaded.document is None
    assert [str(p) for p in loaded.problems] == [first]


def test_aliases_and_merge_keys_still_mean_what_yaml_says() -> None:
    text = (
        "base: &base {x: 1, y: 2}\n"
        "over: {<<: *base, y: 3}\n"
        "first-wins: {<<: [*base, {x: 9, z: 1}]}\n"
        "list: &list [1, 2]\n"
        "twice: [*list, *list]\n"
        "nodes:\n" + "".join(f"  n{i}: {{<<: *base, id: {i}}}\n" for i in range(3000))
    )
    loaded = load_text(text, "t.yaml")
    assert loaded.problems == []
    assert loaded.document is not None
    data = loaded.document.data
    assert data["over"] == {"x": 1, "y": 3}
    assert data["first-wins"] == {"x": 1, "y": 2, "z": 1}
    assert data["twice"] == [[1, 2], [1, 2]]
    assert data["nodes"]["n2999"] == {"x": 1, "y": 2, "id": 2999}


def test_merge_of_something_not_a_mapping_is_located() -> None:
    loaded = load_text("a: &a [1]\nb:\n  <<: *a\n", "t.yaml")
    assert loaded.document is None
    [problem] = loaded.problems
    assert str(problem).startswith("t.yaml:3:3: b.<<: "), str(problem)


DEEP = {
    "flow-10000": "a: " + "[" * 10000 + "]" * 10000 + "\n",
    "flow-500": "a: " + "[" * 500 + "]" * 500 + "\n",
    "flow-mappings-300": "a: " + "{b: " * 300 + "1" + "}" * 300 + "\n",
    "block-600": "".join("  " * i + "k:\n" for i in range(600)) + "  " * 600 + "v\n",
    "anchor-inside-itself": "a: &a {b: *a}\n",
    "anchor-chain": "".join(
        f"l{i}: &l{i} " + "[" * 40 + (f"*l{i - 1}" if i else "1") + "]" * 40 + "\n"
        for i in range(30)
    ),
}


@pytest.mark.parametrize("text", DEEP.values(), ids=DEEP.keys())
def test_endless_nesting_is_a_located_error(text: str, tmp_path: Path) -> None:
    (tmp_path / "deep.yaml").write_text(text, encoding="utf-8")
    [line] = check(tmp_path / "deep.yaml")
    assert LOCATED.match(line), line
    assert "deep" in line or "itself" in line, line


# --- 5. names with an invisible extra character --------------------------------

RELAY = "    role: relay\n"
AGENT_TLS = "{cert: /etc/c.pem, key: /etc/k.pem}"
# (where the name is, the text it replaces, the same text with {v} for the name, a good name)
NAMES = [
    ("node-key", "  gw-one:\n    id: 1", "  {v}:\n    id: 1", "gw-one"),
    ("network-name", "  name: fixture\n", "  name: {v}\n", "fixture"),
    ("country", "  country: KE\n", "  country: {v}\n", "KE"),
    ("timezone", "  timezone: Africa/Nairobi\n", "  timezone: {v}\n", "Africa/Nairobi"),
    ("isp-key", "  isp-fibre:\n    description", "  {v}:\n    description", "isp-fibre"),
    ("profile-key", "  gateway:\n    role: gateway", "  {v}:\n    role: gateway", "gateway"),
    ("node-profile", "    profile: gateway\n", "    profile: {v}\n", "gateway"),
    ("radio-key", "    radio0: {band: 2g", "    {v}: {band: 2g", "radio0"),
    ("ap-radio", "radios: [radio0]}", "radios: [{v}]}", "radio0"),
    ("mesh-radio", "    radio: radio1\n", "    radio: {v}\n", "radio1"),
    ("lan-port", "    ports: [lan1]", "    ports: [{v}]", "lan1"),
    ("uplink-port", "proto: dhcp, port: wan}", "proto: dhcp, port: {v}}", "wan"),
    ("uplink-isp", "{isp: isp-fibre, proto", "{isp: {v}, proto", "isp-fibre"),
    ("env-name", "key: {file: secrets/mesh.key}", "key: {env: {v}}", "MESH_KEY"),
    ("release", '  release: "23.05"\n', "  release: {v}\n", "23.05"),
    ("encryption", "encryption: psk2,", "encryption: {v},", "psk2"),
    ("ssh-user", RELAY, RELAY + "    ssh: {user: {v}}\n", "root"),
    ("switch-name", RELAY, RELAY + "    switch: {name: {v}, vlans: {1: '0t 2'}}\n", "switch0"),
    (
        "router-path",
        RELAY,
        RELAY + "    agent: {tls: {cert: {v}, key: /etc/k.pem}}\n",
        "/etc/c.pem",
    ),
    (
        "scrape-user",
        RELAY,
        RELAY + f"    agent: {{tls: {AGENT_TLS}, basic_auth: {{username: {{v}}, "
        "password: {env: AGENT_PW}}}\n",
        "scraper",
    ),
    ("noc-entry", "  entry: gw-one\n", "  entry: {v}\n", "gw-one"),
    ("noc-host", "  entry: gw-one\n", "  entry: gw-one\n  host: {v}\n", "noc"),
    (
        "duration",
        "  entry: gw-one\n",
        "  entry: gw-one\n  prometheus: {port: 9090, retention: {v}}\n",
        "30d",
    ),
    ("receiver-key", "    responders:\n      webhook", "    {v}:\n      webhook", "responders"),
    ("route-receiver", "{receiver: responders,", "{receiver: {v},", "responders"),
    ("email", "      webhook: {file: secrets/webhook.url}", "      email: {v}", "noc@example.org"),
    ("target-name", "{name: fibre-resolver,", "{name: {v},", "fibre-resolver"),
    (
        "target-host",
        "intl-resolver, address: 198.18.0.53,",
        "intl-resolver, host: {v},",
        "example.org",
    ),
    ("target-isp", "[icmp, dns], isp: isp-fibre}", "[icmp, dns], isp: {v}}", "isp-fibre"),
    ("link-end", "  - {a: gw-one, b: relay-two}", "  - {a: {v}, b: relay-two}", "gw-one"),
]
VARIANTS = {
    "trailing-newline": lambda name: name + "\n",
    "trailing-cr": lambda name: name + "\r",
    "leading-newline": lambda name: "\n" + name,
    "embedded-nul": lambda name: name[:1] + "\x00" + name[1:],
    "line-separator": lambda name: name + "\u2028",
    "next-line": lambda name: name + "\x85",
    "trailing-space": lambda name: name + " ",
}


def _name_cases() -> Iterator[pytest.ParameterSet]:
    for where, old, new, good in NAMES:
        for variant, spoil in VARIANTS.items():
            yield pytest.param(old, new, spoil(good), id=f"{where}-{variant}")


def test_every_name_case_is_valid_with_the_good_name(tmp_path: Path) -> None:
    for _, old, new, good in NAMES:
        text = edit(old, new.replace("{v}", json.dumps(good)))
        (tmp_path / "inventory.yaml").write_text(text, encoding="utf-8")
        found = _problems_or_none(tmp_path / "inventory.yaml")
        spelled = line_of(text, json.dumps(good)) if json.dumps(good) in text else 0
        assert all(p.location.line != spelled for p in found), [str(p) for p in found]


def _problems_or_none(target: Path) -> list[Problem]:
    try:
        load_inventory(target, resolve_secrets=False)
    except InventoryError as exc:
        return exc.problems
    return []


@pytest.mark.parametrize(("old", "new", "bad"), list(_name_cases()))
def test_a_name_with_an_invisible_extra_character_is_refused_where_it_is(
    old: str, new: str, bad: str, tmp_path: Path
) -> None:
    quoted = json.dumps(bad)  # a JSON string is a double-quoted YAML scalar
    text = edit(old, new.replace("{v}", quoted))
    target = tmp_path / "inventory.yaml"
    target.write_text(text, encoding="utf-8")
    line = line_of(text, quoted)
    lines = check(target)
    assert any(entry.startswith(f"{target}:{line}:") for entry in lines), lines


# A value each `pattern` of the schema accepts; the test fails for a pattern not listed.
PATTERN_SAMPLES = {
    r"^[A-Z]{2}$": "KE",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "MESH_KEY",
    r"^[a-z_][a-z0-9_-]{0,31}$": "root",
    r"^[0-9]+[smhdwy]$": "30d",
    r"^[A-Za-z0-9_.@-]{1,15}$": "lan1",
    r"^[a-z0-9][a-z0-9_.-]{0,62}$": "fibre-resolver",
    r"^[A-Za-z0-9.-]{1,253}$": "example.org",
    r"^[A-Za-z0-9_]{1,15}$": "switch0",
    r"^/[A-Za-z0-9_./-]{1,200}$": "/etc/c.pem",
    r"^[A-Za-z0-9_.-]{1,64}$": "scraper",
    EMAIL: "noc@example.org",
    r"^[A-Za-z0-9.-]{1,253}:[0-9]{1,5}$": "mail.example.org:587",
    r"^[A-Za-z0-9_.@+-]{1,128}$": "alertmanager@example.org",
    r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?$": "https://vm.example.org/api/v1/write",
}


def _patterns(schema: object) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["pattern"]} if isinstance(schema.get("pattern"), str) else set()
        return found.union(*(_patterns(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_patterns(item) for item in schema))
    return set()


def test_every_schema_pattern_matches_the_whole_text() -> None:
    # pydantic runs `pattern` on Rust's regex, where `$` is the end of the text
    # (Python's `$` also matches before a final newline); this holds it to that.
    patterns = _patterns(inventory_schema())
    patterns.discard(NODE_NAME_PATTERN)  # JSON Schema only: pydantic checks types.Hostname
    assert patterns == set(PATTERN_SAMPLES)
    for pattern, good in PATTERN_SAMPLES.items():
        adapter: TypeAdapter[str] = TypeAdapter(Annotated[str, Field(pattern=pattern)])
        assert adapter.validate_python(good) == good
        for spoil in VARIANTS.values():
            with pytest.raises(ValidationError):
                adapter.validate_python(spoil(good))


@pytest.mark.parametrize(
    ("name_type", "good"),
    [(types.Hostname, "gw-one"), (types.UciName, "radio0")],
    ids=["hostname", "uci-name"],
)
def test_names_checked_in_python_match_the_whole_text(name_type: object, good: str) -> None:
    adapter: TypeAdapter[str] = TypeAdapter(name_type)
    assert adapter.validate_python(good) == good
    for spoil in VARIANTS.values():
        with pytest.raises(ValidationError):
            adapter.validate_python(spoil(good))


# --- 13. errors that broke the FILE:LINE:COL contract -------------------------


@pytest.mark.parametrize(
    "char", ["\x00", "\x1b", "\x7f", "\ufffe"], ids=["nul", "esc", "del", "fffe"]
)
def test_a_character_yaml_forbids_is_located(char: str, tmp_path: Path) -> None:
    text = edit("  description: Minimal", f"  description: Min{char}imal")
    target = tmp_path / "inventory.yaml"
    target.write_text(text, encoding="utf-8")
    [line] = check(target)
    assert line.startswith(f"{target}:7:19: "), line
    assert repr(char) in line and "\\n" not in line, line


BAD_KEYS = {"null": "~", "null-word": "null", "true": "true", "false": "False", "number": "1"}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_node_key_that_is_not_text_is_reported_once_in_its_own_file(
    key: str, tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        f"nodes:\n  {key}: {{id: 8, role: leaf}}\n",
        encoding="utf-8",
    )
    found = problems(tmp_path)
    assert len(found) == 1, [str(p) for p in found]
    assert found[0].location.file == str(tmp_path / "b.yaml")
    assert (found[0].location.line, found[0].location.column) == (2, 3)
    assert "quote" in found[0].todo


def test_true_and_1_as_keys_are_not_one_key(tmp_path: Path) -> None:
    text = edit(
        "  leaf-three:\n", "  1: {id: 8, role: leaf}\n  true: {id: 7, role: leaf}\n  leaf-three:\n"
    )
    (tmp_path / "inventory.yaml").write_text(text, encoding="utf-8")
    found = [str(p) for p in problems(tmp_path / "inventory.yaml")]
    assert not any("duplicate" in p for p in found), found
    assert len(found) == 1, found  # the file is refused at the `true` key


DIGITS = "9" * 5000
HUGE_NUMBERS = {
    "text-field": ("  timezone: Africa/Nairobi", f"  timezone: {DIGITS}", DIGITS),
    "number-field": (
        "  channel: 36\n  htmode: VHT40",
        f"  channel: {DIGITS}\n  htmode: VHT40",
        DIGITS,
    ),
    "hex": ("  htmode: VHT40\n\naddressing", f"  htmode: 0x{DIGITS}\n\naddressing", f"0x{DIGITS}"),
    "negative": ("lan_prefix: 24", f"lan_prefix: -{DIGITS}", f"-{DIGITS}"),
    "key": ("  relay-two:\n", f"  ? {DIGITS}\n  : {{role: leaf}}\n  relay-two:\n", DIGITS),
    "forty-digits": ("Market roof", "1" * 40, "1" * 40),
}


@pytest.mark.parametrize(("old", "new", "number"), HUGE_NUMBERS.values(), ids=HUGE_NUMBERS.keys())
def test_a_huge_number_says_what_to_do(old: str, new: str, number: str, tmp_path: Path) -> None:
    text = edit(old, new)
    target = tmp_path / "inventory.yaml"
    target.write_text(text, encoding="utf-8")
    [line] = check(target)
    at = text.index(number)
    row, col = text[:at].count("\n") + 1, at - text.rfind("\n", 0, at)
    assert line.startswith(f"{target}:{row}:{col}: "), line
    assert "digits" in line and "quote it" in line, line


HUGE = "x" * 1_000_000
ECHOES = {
    "country": ("  country: KE", f"  country: {HUGE}"),
    "release": ('  release: "23.05"', f"  release: {HUGE}"),
    "network-name": ("  name: fixture", f"  name: {HUGE}"),
    "timezone": ("  timezone: Africa/Nairobi", f"  timezone: {HUGE}"),
    "node-key": ("  gw-one:\n    id: 1", f"  ? {HUGE}\n  :\n    id: 1"),  # `?`: a long key
    "profile-reference": ("    profile: gateway\n", f"    profile: {HUGE}\n"),
    "encryption": ("encryption: psk2,", f"encryption: {HUGE},"),
    "management": (RELAY, RELAY + f"    management: {HUGE}\n"),
    "subnet": (RELAY, RELAY + f"    lan: {{subnet: {HUGE}}}\n"),
    "radio-key": ("    radio0: {band: 2g", f"    ? {HUGE}\n    : {{band: 2g"),
    "mesh-radio": ("    radio: radio1\n", f"    radio: {HUGE}\n"),
    "secret-file": ("key: {file: secrets/mesh.key}", f"key: {{file: {HUGE}}}"),
    "env-name": ("key: {file: secrets/mesh.key}", f"key: {{env: {'X' * 300}}}"),
    "unknown-field": (RELAY, RELAY + f"    ? {HUGE}\n    : 1\n"),
    "control-characters": ("  country: KE", '  country: "' + "\\e[2J\\r\\n" * 1000 + '"'),
    "five-megabytes": ("  country: KE", "  country: " + "K" * 5_000_000),
    "secret-file-that-could-exist": pytest.param(
        "key: {file: secrets/mesh.key}",
        f"key: {{file: {'x/' * 1000}mesh.key}}",
    ),
}


@pytest.mark.parametrize(("old", "new"), ECHOES.values(), ids=ECHOES.keys())
def test_an_echoed_value_is_cut_short_and_escaped(old: str, new: str, tmp_path: Path) -> None:
    target = tmp_path / "inventory.yaml"
    target.write_text(edit(old, new), encoding="utf-8")
    shutil.copytree(FIXTURES / "secrets", tmp_path / "secrets")
    lines = check(target, secrets=True)  # asserts each line is printable and short
    assert any(LOCATED.match(line) for line in lines), lines


# --- 14. directory entries that were skipped silently --------------------------


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    root = tmp_path / "inventory"
    root.mkdir()
    head, _, tail = VALID.partition("nodes:\n")
    (root / "network.yaml").write_text(head, encoding="utf-8")
    (root / "nodes.yaml").write_text("nodes:\n" + tail, encoding="utf-8")
    return root


def test_the_split_inventory_is_valid(inventory: Path) -> None:
    assert sorted(load_inventory(inventory).nodes) == ["gw-one", "leaf-three", "relay-two"]


def extra_node(name: str) -> str:
    return f"nodes:\n  {name}: {{id: 7, role: relay}}\nlinks:\n  - {{a: gw-one, b: {name}}}\n"


def test_a_link_to_a_yaml_file_is_followed(inventory: Path, tmp_path: Path) -> None:
    outside = tmp_path / "shared.yaml"
    outside.write_text(extra_node("relay-shared"), encoding="utf-8")
    (inventory / "shared.yaml").symlink_to(outside)
    assert "relay-shared" in load_inventory(inventory).nodes


def test_a_second_path_to_the_same_file_is_reported(inventory: Path) -> None:
    (inventory / "again.yaml").symlink_to(inventory / "nodes.yaml")
    [problem] = problems(inventory)
    assert problem.location.file.endswith("inventory/again.yaml")
    assert "nodes.yaml" in problem.what and "remove" in problem.todo


def test_a_linked_directory_is_followed(inventory: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "more.yaml").write_text(extra_node("relay-linked"), encoding="utf-8")
    (inventory / "more").symlink_to(elsewhere)
    assert "relay-linked" in load_inventory(inventory).nodes


def test_a_link_back_into_the_inventory_is_reported_not_looped(inventory: Path) -> None:
    (inventory / "sub").mkdir()
    (inventory / "sub" / "loop").symlink_to(inventory)
    [problem] = problems(inventory)
    assert problem.location.file.endswith("inventory/sub/loop")
    assert "already" in problem.what


def test_a_yaml_link_to_nothing_is_reported(inventory: Path) -> None:
    (inventory / "extra.yaml").symlink_to(inventory / "missing.yaml")
    [problem] = problems(inventory)
    assert problem.location.file.endswith("inventory/extra.yaml")
    assert "missing.yaml" in problem.what and "link" in problem.todo


def test_a_yaml_link_to_itself_is_reported(inventory: Path) -> None:
    (inventory / "loop.yaml").symlink_to(inventory / "loop.yaml")
    [problem] = problems(inventory)
    assert problem.location.file.endswith("inventory/loop.yaml")
    assert "link" in problem.todo


def test_a_pipe_named_yaml_is_reported_never_opened(inventory: Path) -> None:
    os.mkfifo(inventory / "pipe.yaml")
    result = run_check(inventory.parent, "-i", "inventory", timeout=20)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[0] == (
        "inventory/pipe.yaml: is a named pipe (FIFO), not a regular file — "
        "replace it with a YAML file or remove it"
    )


def test_a_socket_or_device_named_yaml_is_reported(inventory: Path) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(inventory / "socket.yaml"))
        (inventory / "device.yaml").symlink_to("/dev/null")
        found = {Path(p.location.file).name: p.what for p in problems(inventory)}
    assert found == {
        "device.yaml": "is a character device, not a regular file",
        "socket.yaml": "is a socket, not a regular file",
    }


def test_a_pipe_given_as_the_inventory_is_reported(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    result = run_check(tmp_path, "-i", "pipe.yaml", timeout=20)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0].startswith("pipe.yaml: is a named pipe (FIFO)")


def test_an_upper_case_suffix_is_read(inventory: Path) -> None:
    (inventory / "More.YAML").write_text(extra_node("relay-upper"), encoding="utf-8")
    assert "relay-upper" in load_inventory(inventory).nodes


# Root reads past file modes; without these capabilities it cannot (the test runs as
# root in CI, and as anyone else the modes alone refuse).
NO_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] * (os.geteuid() == 0)


def test_a_directory_that_cannot_be_listed_is_reported(inventory: Path) -> None:
    closed = inventory / "closed"
    closed.mkdir()
    closed.chmod(0)
    try:
        result = subprocess.run(
            [*NO_OVERRIDE, *MESHKEEPER, "check", "--no-secrets", "-i", str(inventory)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        closed.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"{closed}: cannot be listed (Permission denied) — check its permissions",
        "1 problem(s) in the inventory",
    ]


@pytest.mark.parametrize("direct", [False, True], ids=["in-directory", "as-argument"])
def test_a_file_over_the_size_cap_is_refused_unread(inventory: Path, direct: bool) -> None:
    big = inventory / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    [problem] = problems(big if direct else inventory)
    assert problem.location.file.endswith("big.yaml")
    assert problem.what == "is larger than 10 MiB"
    assert "split" in problem.todo
