"""agent.json: the rendered goldens parse; each invalid config fails with its exact message.

The invalid corpus follows blackbox_exporter's habit: one defect per case, built
from a valid minimal config, each asserting the whole `str(ConfigError)` so a
message that loses its field path or its "what to do next" fails here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.config import (
    SCHEMA_VERSION,
    AgentConfig,
    BasicAuth,
    Mesh,
    Probes,
    load_config,
    parse_config,
)
from agent.errors import AgentError, ConfigError
from controller.render.agent_config import password_hash
from tests.unit.agent.conftest import MINIMAL

RENDER = Path(__file__).resolve().parents[2] / "fixtures" / "render"
GOLDENS = sorted(RENDER.glob("*/etc/meshkeeper/agent.json"))
FIX = "fix it in the inventory and push again"
UPGRADE = "this agent may be older than the controller that rendered the file: upgrade the agent"
TOP_KEYS = (
    "collectors, listen, mesh, model, neighbours, network, node, probes, release, role, "
    "uplinks, version"
)
GOOD_HASH = "pbkdf2_sha256$20000$" + "ab" * 16 + "$" + "cd" * 32
BAD_HASH = (
    "agent.json: $.listen.basic_auth.password_hash: must read "
    f"pbkdf2_sha256$ITERATIONS$SALT$HASH (the controller writes it) — {FIX}"
)
TIERS = ("isp", "domestic", "international", "platforms")

DELETE = object()  # with_change(path, DELETE) removes the key


def with_change(path: str, value: Any) -> dict[str, Any]:
    """MINIMAL with one value set (or, for the value DELETE, removed) at a dotted path."""
    data = copy.deepcopy(MINIMAL)
    *parents, last = path.split(".")
    node: Any = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return data


def error_of(data: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(json.dumps(data), "agent.json")
    return str(caught.value)


# --- the goldens --------------------------------------------------------------------------


def test_there_are_goldens_for_every_rendered_node() -> None:
    assert len(GOLDENS) == 8


@pytest.mark.parametrize("path", GOLDENS, ids=lambda p: p.parts[-4])
def test_every_golden_agent_json_parses_to_what_it_says(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    config = load_config(path)

    assert config.node == path.parts[-4] == raw["node"]
    assert (config.network, config.role, config.release, config.model) == (
        raw["network"],
        raw["role"],
        raw["release"],
        raw["model"],
    )
    assert (config.listen.address, config.listen.port) == (
        raw["listen"]["address"],
        raw["listen"]["port"],
    )
    assert config.listen.tls is None
    assert config.listen.basic_auth is None
    assert config.mesh == Mesh(
        raw["mesh"]["protocol"], tuple(raw["mesh"]["devices"]), raw["mesh"]["babel_local"]
    )
    assert [(n.name, n.address, n.medium) for n in config.neighbours] == [
        (n["name"], n["address"], n["medium"]) for n in raw["neighbours"]
    ]
    assert [(u.interface, u.isp, u.proto) for u in config.uplinks] == [
        (u["interface"], u["isp"], u["proto"]) for u in raw["uplinks"]
    ]
    assert config.probes.interval_seconds == raw["probes"]["interval_seconds"]
    assert config.probes.gateway is raw["probes"]["gateway"]
    # Targets keep the tier order isp → domestic → international → platforms.
    assert [(t.tier, t.name) for t in config.probes.targets] == [
        (tier, t["name"]) for tier in TIERS for t in raw["probes"][tier]
    ]
    for target, spelled in zip(
        config.probes.targets, [t for tier in TIERS for t in raw["probes"][tier]], strict=True
    ):
        assert target.kinds == tuple(spelled["kinds"])
        assert (target.address, target.host, target.port, target.isp) == (
            spelled.get("address"),
            spelled.get("host"),
            spelled.get("port"),
            spelled.get("isp"),
        )
    assert dict(config.collectors) == {k: float(v) for k, v in raw["collectors"].items()}


def test_a_golden_read_closely() -> None:
    """One golden spelled out, so a reader that drops a field cannot agree with itself."""
    config = load_config(RENDER / "gw-market" / "etc" / "meshkeeper" / "agent.json")
    assert config.role == "gateway"
    assert config.listen.address == "10.31.0.1"
    assert config.listen.port == 9110
    assert config.mesh == Mesh("babel", ("mesh0",), "[::1]:33123")
    assert [n.name for n in config.neighbours] == ["gw-school", "leaf-bus-stop", "relay-clinic"]
    assert config.uplinks[0].isp == "isp-fibre"
    fibre = config.probes.targets[0]
    assert (fibre.tier, fibre.name, fibre.address, fibre.isp, fibre.kinds) == (
        "isp",
        "fibre-resolver",
        "100.64.0.53",
        "isp-fibre",
        ("icmp", "dns"),
    )
    assert len(config.probes.targets) == 10
    assert config.collectors["babel"] == 15.0


def test_the_minimal_config_takes_the_defaults() -> None:
    config = parse_config(json.dumps(MINIMAL))
    assert isinstance(config, AgentConfig)
    assert config.mesh == Mesh(None)
    assert config.neighbours == ()
    assert config.uplinks == ()
    assert config.probes == Probes()
    assert dict(config.collectors) == {}


def test_tls_and_basic_auth_are_read() -> None:
    listen = {
        "address": "fd00::1",
        "port": 9110,
        "tls": {"cert": "/etc/meshkeeper/tls.crt", "key": "/etc/meshkeeper/tls.key"},
        "basic_auth": {"username": "prometheus", "password_hash": GOOD_HASH},
    }
    config = parse_config(json.dumps({**MINIMAL, "listen": listen}))
    assert config.listen.tls is not None
    assert config.listen.tls.cert == "/etc/meshkeeper/tls.crt"
    assert config.listen.tls.client_ca is None
    assert config.listen.basic_auth == BasicAuth("prometheus", GOOD_HASH)


# --- the invalid corpus -------------------------------------------------------------------

INVALID: list[tuple[str, Any, str]] = [
    (
        "unknown-top-level-key",
        with_change("colectors", {"system": 15}),
        f"agent.json: $.colectors: unknown key (known here: {TOP_KEYS}) — {UPGRADE}",
    ),
    (
        "unknown-nested-key",
        with_change("listen.tsl", {"cert": "a", "key": "b"}),
        "agent.json: $.listen.tsl: unknown key (known here: address, basic_auth, port, tls, "
        f"trusted) — {UPGRADE}",
    ),
    (
        "unknown-key-deep-in-a-list",
        with_change(
            "probes",
            {
                "interval_seconds": 60,
                "isp": [
                    {"name": "x", "kinds": ["icmp"], "address": "192.0.2.1", "adress": "192.0.2.2"}
                ],
            },
        ),
        "agent.json: $.probes.isp[0].adress: unknown key "
        f"(known here: address, download, host, isp, kinds, name, port) — {UPGRADE}",
    ),
    (
        "wrong-version",
        with_change("version", 2),
        "agent.json: $.version: is 2; this agent reads version 1 — install the agent that "
        "matches the controller",
    ),
    (
        "version-true",  # JSON true equals 1 in Python; it is still not a version number
        with_change("version", True),
        "agent.json: $.version: is True; this agent reads version 1 — install the agent that "
        "matches the controller",
    ),
    (
        "version-string",
        with_change("version", "1"),
        "agent.json: $.version: is '1'; this agent reads version 1 — install the agent that "
        "matches the controller",
    ),
    ("missing-node", with_change("node", DELETE), f"agent.json: $.node: is required — {FIX}"),
    (
        "missing-listen-port",
        with_change("listen.port", DELETE),
        f"agent.json: $.listen.port: is required — {FIX}",
    ),
    (
        "port-0",
        with_change("listen.port", 0),
        f"agent.json: $.listen.port: must be an integer from 1 to 65535 — {FIX}",
    ),
    (
        "port-70000",
        with_change("listen.port", 70000),
        f"agent.json: $.listen.port: must be an integer from 1 to 65535 — {FIX}",
    ),
    (
        "port-true",
        with_change("listen.port", True),
        f"agent.json: $.listen.port: must be an integer from 1 to 65535 — {FIX}",
    ),
    (
        "port-string",
        with_change("listen.port", "9110"),
        f"agent.json: $.listen.port: must be an integer from 1 to 65535 — {FIX}",
    ),
    (
        "bad-listen-address",
        with_change("listen.address", "10.31.0.300"),
        f"agent.json: $.listen.address: '10.31.0.300' is not an IP address — {FIX}",
    ),
    (
        "babel-socket-without-port-colon",
        with_change("mesh", {"protocol": "babel", "babel_local": "[::1]33123"}),
        "agent.json: $.mesh.babel_local: '[::1]33123' is not [IPv6]:PORT, IPv4:PORT or a "
        f"socket path — {FIX}",
    ),
    (
        "hostname-as-neighbour-address",
        with_change("neighbours", [{"name": "gw", "address": "gw.lan", "medium": "wifi"}]),
        f"agent.json: $.neighbours[0].address: 'gw.lan' is not an IP address — {FIX}",
    ),
    (
        "empty-node-name",
        with_change("node", ""),
        f"agent.json: $.node: must be a non-empty string without control characters — {FIX}",
    ),
    (
        "newline-in-model",
        with_change("model", "Archer\nC6"),
        f"agent.json: $.model: must be a non-empty string without control characters — {FIX}",
    ),
    (
        "listen-not-an-object",
        with_change("listen", "10.31.0.9:9110"),
        f"agent.json: $.listen: must be an object — {FIX}",
    ),
    (
        "top-level-a-list",
        [MINIMAL],
        f"agent.json: $: must be an object — {FIX}",
    ),
    (
        "neighbours-not-a-list",
        with_change("neighbours", {"gw": "10.31.0.1"}),
        f"agent.json: $.neighbours: must be a list — {FIX}",
    ),
    (
        "unknown-mesh-protocol",
        with_change("mesh", {"protocol": "olsr"}),
        f"agent.json: $.mesh.protocol: must be babel, batman-adv or null — {FIX}",
    ),
    (
        "missing-mesh-protocol",
        with_change("mesh", {"devices": ["mesh0"]}),
        f"agent.json: $.mesh.protocol: is required — {FIX}",
    ),
    (
        "probe-interval-too-short",
        with_change("probes", {"interval_seconds": 5}),
        f"agent.json: $.probes.interval_seconds: must be an integer from 10 to 3600 — {FIX}",
    ),
    (
        "probe-gateway-not-bool",
        with_change("probes", {"interval_seconds": 60, "gateway": "yes"}),
        f"agent.json: $.probes.gateway: must be true or false — {FIX}",
    ),
    (
        "target-with-neither-address-nor-host",
        with_change("probes", {"interval_seconds": 60, "isp": [{"name": "r", "kinds": ["dns"]}]}),
        f"agent.json: $.probes.isp[0]: needs an address or a host — {FIX}",
    ),
    (
        "target-with-empty-kinds",
        with_change(
            "probes",
            {
                "interval_seconds": 60,
                "domestic": [
                    {"name": "ok", "kinds": ["icmp"], "host": "ok.test"},
                    {"name": "none", "kinds": [], "host": "none.test"},
                ],
            },
        ),
        f"agent.json: $.probes.domestic[1].kinds: must list at least one probe kind — {FIX}",
    ),
    (
        "target-port-0",
        with_change(
            "probes",
            {
                "interval_seconds": 60,
                "platforms": [{"name": "c", "kinds": ["tcp"], "host": "c.test", "port": 0}],
            },
        ),
        f"agent.json: $.probes.platforms[0].port: must be an integer from 1 to 65535 — {FIX}",
    ),
    (
        "collectors-not-a-map",
        with_change("collectors", ["system"]),
        f"agent.json: $.collectors: must map collector names to intervals in seconds — {FIX}",
    ),
    (
        "collector-interval-0",
        with_change("collectors", {"system": 0}),
        f"agent.json: $.collectors.system: must be an integer from 1 to 3600 — {FIX}",
    ),
    (
        "collector-interval-true",
        with_change("collectors", {"system": True}),
        f"agent.json: $.collectors.system: must be an integer from 1 to 3600 — {FIX}",
    ),
    (
        "tls-without-key",
        with_change("listen.tls", {"cert": "/etc/meshkeeper/tls.crt"}),
        f"agent.json: $.listen.tls.key: is required — {FIX}",
    ),
    (
        "basic-auth-without-username",
        with_change("listen.basic_auth", {"password_hash": GOOD_HASH}),
        f"agent.json: $.listen.basic_auth.username: is required — {FIX}",
    ),
    *[
        (
            f"password-hash-{name}",
            with_change("listen.basic_auth", {"username": "p", "password_hash": value}),
            BAD_HASH,
        )
        for name, value in [
            ("plain-password", "correct-horse-battery"),
            ("other-scheme", "bcrypt$12$" + "ab" * 16 + "$" + "cd" * 32),
            ("three-fields", "pbkdf2_sha256$20000$" + "cd" * 32),
            ("five-fields", GOOD_HASH + "$00"),
            ("iterations-not-a-number", "pbkdf2_sha256$many$" + "ab" * 16 + "$" + "cd" * 32),
            # Shapes that split into four fields but that the exporter cannot verify:
            # each would make every scrape fail instead of failing `check`.
            ("iterations-zero", "pbkdf2_sha256$0$" + "ab" * 16 + "$" + "cd" * 32),
            ("iterations-superscript", "pbkdf2_sha256$²$" + "ab" * 16 + "$" + "cd" * 32),
            ("salt-not-hex", "pbkdf2_sha256$20000$" + "zz" * 16 + "$" + "cd" * 32),
            ("salt-empty", "pbkdf2_sha256$20000$$" + "cd" * 32),
            ("hash-not-hex", "pbkdf2_sha256$20000$" + "ab" * 16 + "$" + "é" * 64),
            ("hash-upper-case", "pbkdf2_sha256$20000$" + "ab" * 16 + "$" + "CD" * 32),
            ("hash-short", "pbkdf2_sha256$20000$" + "ab" * 16 + "$" + "cd" * 31),
        ]
    ],
]


@pytest.mark.parametrize(
    ("data", "expected"), [pytest.param(d, e, id=name) for name, d, e in INVALID]
)
def test_invalid_config_fails_with_its_exact_message(data: Any, expected: str) -> None:
    assert error_of(data) == expected


def with_basic_auth(hashed: str, username: str = "p") -> dict[str, Any]:
    """MINIMAL with basic auth, over TLS (basic auth alone is refused)."""
    data = with_change("listen.tls", {"cert": "/etc/tls.crt", "key": "/etc/tls.key"})
    data["listen"]["basic_auth"] = {"username": username, "password_hash": hashed}
    return data


def test_the_corpus_really_starts_from_a_valid_config() -> None:
    """Otherwise every case above could fail for the same unrelated reason."""
    assert parse_config(json.dumps(MINIMAL)).node == "leaf-test"
    hashed = with_basic_auth(GOOD_HASH)
    assert parse_config(json.dumps(hashed)).listen.basic_auth == BasicAuth("p", GOOD_HASH)


def test_the_hash_the_controller_renders_is_accepted() -> None:
    """The controller/agent contract: whatever `password_hash` writes, `check` accepts."""
    hashed = password_hash("correct horse battery staple", bytes(range(16)))
    data = with_basic_auth(hashed, "prometheus")
    assert parse_config(json.dumps(data)).listen.basic_auth == BasicAuth("prometheus", hashed)


def test_not_json_gives_line_and_column() -> None:
    text = '{\n  "version": 1,\n  "node": "leaf-test"\n  "network": "riverside"\n}\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "/etc/meshkeeper/agent.json")
    assert str(caught.value) == (
        "/etc/meshkeeper/agent.json: line 4 column 3: not JSON: Expecting ',' delimiter — " + FIX
    )
    assert caught.value.where == "line 4 column 3"
    assert isinstance(caught.value.__cause__, json.JSONDecodeError)


def test_config_error_is_an_agent_error() -> None:
    """The CLI catches the root; a ConfigError outside it would print a traceback."""
    assert issubclass(ConfigError, AgentError)


def test_schema_version_is_what_the_goldens_carry() -> None:
    assert {json.loads(p.read_text(encoding="utf-8"))["version"] for p in GOLDENS} == {
        SCHEMA_VERSION
    }


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "agent.json"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert str(caught.value) == f"{missing}: no such file — push the node, or pass --config"


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    path.write_bytes(b'{"node": "\xff"}')
    with pytest.raises(ConfigError, match=r"agent\.json: cannot read it: 'utf-8' codec"):
        load_config(path)


# --- the CLI ------------------------------------------------------------------------------


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def assert_one_line_error(err: str, expected: str) -> None:
    assert "Traceback" not in err
    assert err.splitlines() == [expected]


def test_check_accepts_a_golden(capsys: pytest.CaptureFixture[str]) -> None:
    path = RENDER / "gw-market" / "etc" / "meshkeeper" / "agent.json"
    assert main(["check", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == (
        f"{path}: ok (gw-market; collectors: babel, interfaces, neighbours, system, wireless)\n"
    )
    assert err == ""


def test_check_uses_the_default_collectors_when_none_are_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The controller's rule (agent/contract.py): wireless only with radios (here: a
    phy in the root's /sys/class/ieee80211), neighbours only with neighbours listed."""
    path = write(tmp_path, with_change("mesh", {"protocol": "batman-adv"}))
    root = tmp_path / "root"
    root.mkdir()
    assert main(["check", "--config", str(path), "--root", str(root)]) == 0
    out, _ = capsys.readouterr()
    assert out == f"{path}: ok (leaf-test; collectors: system, interfaces, batman_adv)\n"
    (root / "sys/class/ieee80211/phy0").mkdir(parents=True)
    assert main(["check", "--config", str(path), "--root", str(root)]) == 0
    out, _ = capsys.readouterr()
    assert out == (
        f"{path}: ok (leaf-test; collectors: system, interfaces, batman_adv, wireless)\n"
    )


def test_check_rejects_a_bad_config_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, with_change("listen.port", 70000))
    assert main(["check", "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert_one_line_error(
        err,
        f"meshkeeper-agent: {path}: $.listen.port: must be an integer from 1 to 65535 — {FIX}",
    )


def test_check_rejects_text_that_is_not_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.json"
    path.write_text('{"version": 1,}', encoding="utf-8")
    assert main(["check", "--config", str(path)]) == 2
    _, err = capsys.readouterr()
    assert_one_line_error(
        err,
        f"meshkeeper-agent: {path}: line 1 column 15: not JSON: Expecting property name "
        f"enclosed in double quotes — {FIX}",
    )


def test_check_names_an_unknown_collector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, with_change("collectors", {"system": 15, "sytsem": 15}))
    assert main(["check", "--config", str(path)]) == 2
    _, err = capsys.readouterr()
    assert_one_line_error(
        err,
        f"meshkeeper-agent: {path}: $.collectors.sytsem: no such collector — use one of "
        "system, interfaces, babel, batman_adv, wireless, neighbours",
    )


@pytest.mark.parametrize("command", ["check", "collect", "run"])
def test_disabling_an_unknown_collector_is_a_config_error(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Caught before anything starts: `run` must not bind or spawn threads for this."""
    path = write(tmp_path, MINIMAL)
    assert main([command, "--config", str(path), "--disable", "wirless"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    # the mistake is on the command line: the error says so, not that agent.json is wrong
    assert_one_line_error(
        err,
        "meshkeeper-agent: command line: --disable wirless: no such collector — use one of "
        "system, interfaces, babel, batman_adv, wireless, neighbours",
    )


def test_disabling_a_known_collector_removes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, with_change("collectors", {"system": 15, "wireless": 30}))
    assert main(["check", "--config", str(path), "--disable", "wireless"]) == 0
    out, _ = capsys.readouterr()
    assert out == f"{path}: ok (leaf-test; collectors: system)\n"


def test_a_missing_config_file_exits_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "agent.json"
    assert main(["check", "--config", str(missing)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert_one_line_error(
        err, f"meshkeeper-agent: {missing}: no such file — push the node, or pass --config"
    )


def test_collectors_lists_every_collector(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collectors"]) == 0
    out, _ = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()] == [
        "system",
        "interfaces",
        "babel",
        "batman_adv",
        "wireless",
        "neighbours",
    ]


def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["check", "--no-such-flag"])
    assert caught.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err
