"""The controller ↔ agent contract: agent.json as rendered is what the agent reads,
monitoring targets, the push's agent health check, and the agent standing alone."""

from __future__ import annotations

import ast
import hashlib
import json
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from click.testing import CliRunner

from agent.config import BasicAuth, Listen, parse_config
from agent.contract import config_proof
from agent.exporter import MetricsServer, verify_password
from agent.state import State
from controller.cli import cli
from controller.model.load import load_inventory
from controller.noc.targets import agent_targets
from controller.push.health import (
    AgentEndpoint,
    AgentSeen,
    agent_answers,
    agent_before,
    agent_endpoint,
    agent_runs,
)
from controller.push.plan import NodeChange
from controller.render.tree import render_inventory, write_tree

ROOT = Path(__file__).resolve().parents[2]


def _agent_json(example_copy: Path, node: str) -> tuple[bytes, int]:
    inv = load_inventory(example_copy, resolve_secrets=True)
    files = {f.path: f for f in render_inventory(inv, [node])[node]}
    rendered = files["etc/meshkeeper/agent.json"]
    return rendered.data, rendered.mode


def _edit_nodes(example_copy: Path, node: str, agent: dict[str, object]) -> None:
    nodes = example_copy / "nodes.yaml"
    data = yaml.safe_load(nodes.read_text())
    data["nodes"][node]["agent"] = agent
    nodes.write_text(yaml.safe_dump(data, sort_keys=False))
    if "tls" in agent:  # the NOC then needs what checks them (and what they ask of it)
        network = example_copy / "network.yaml"
        top = yaml.safe_load(network.read_text())
        top["noc"]["scrape_tls"] = {
            "ca_file": "/etc/meshkeeper/ca.crt",
            "cert_file": "/etc/meshkeeper/noc.crt",
            "key_file": "/etc/meshkeeper/noc.key",
        }
        network.write_text(yaml.safe_dump(top, sort_keys=False))


def test_the_agent_reads_every_rendered_config(example_copy: Path) -> None:
    inv = load_inventory(example_copy, resolve_secrets=True)
    for name, files in render_inventory(inv).items():
        data = next(f.data for f in files if f.path == "etc/meshkeeper/agent.json")
        config = parse_config(data.decode(), f"{name}/agent.json")
        assert config.node == name
        assert config.listen.address == str(inv.plan[name].management)
        assert {n.name for n in config.neighbours} == {n for n, _ in inv.links_by_node[name]}
        # babel network, radios on every node, links everywhere: the defaults
        assert set(config.collectors) == {"system", "interfaces", "babel", "wireless", "neighbours"}


def test_batman_network_runs_the_batman_collector(example_copy: Path) -> None:
    network = example_copy / "network.yaml"
    network.write_text(network.read_text().replace("protocol: babel ", "protocol: batman-adv "))
    nodes = example_copy / "nodes.yaml"
    nodes.write_text(nodes.read_text().replace('release: "19.07"', 'release: "21.02"'))
    config = parse_config(_agent_json(example_copy, "leaf-riverbank")[0].decode())
    assert "batman_adv" in config.collectors and "babel" not in config.collectors
    assert config.mesh.babel_local is None


def test_operator_chosen_collectors_and_interval(example_copy: Path) -> None:
    _edit_nodes(example_copy, "leaf-bus-stop", {"interval": 30, "collectors": ["system"]})
    config = parse_config(_agent_json(example_copy, "leaf-bus-stop")[0].decode())
    assert dict(config.collectors) == {"system": 30.0}


def test_scrape_password_is_hashed_and_the_file_private(example_copy: Path, tmp_path: Path) -> None:
    (example_copy / "secrets" / "scrape.pass").write_text("s3cret-token\n")
    auth = {"username": "prometheus", "password": {"file": "secrets/scrape.pass"}}
    tls = {"cert": "/etc/meshkeeper/agent.crt", "key": "/etc/meshkeeper/agent.key"}
    _edit_nodes(example_copy, "leaf-bus-stop", {"basic_auth": auth, "tls": tls})
    data, mode = _agent_json(example_copy, "leaf-bus-stop")
    assert mode == 0o600
    assert b"s3cret-token" not in data
    config = parse_config(data.decode())
    assert config.listen.basic_auth is not None
    assert config.listen.basic_auth.username == "prometheus"
    assert verify_password("s3cret-token", config.listen.basic_auth.password_hash)
    assert not verify_password("s3cret-token\n", config.listen.basic_auth.password_hash)
    assert _agent_json(example_copy, "leaf-bus-stop")[0] == data  # deterministic
    assert _agent_json(example_copy, "leaf-library")[1] == 0o644  # others unchanged
    inv = load_inventory(example_copy, resolve_secrets=True)
    out = tmp_path / "out"
    write_tree(out, render_inventory(inv, ["leaf-bus-stop"]), prune=False)
    written = out / "leaf-bus-stop" / "etc" / "meshkeeper" / "agent.json"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600


def test_a_password_without_tls_is_refused(example_copy: Path) -> None:
    auth = {"username": "prometheus", "password": {"env": "SCRAPE_PASSWORD"}}
    _edit_nodes(example_copy, "leaf-bus-stop", {"basic_auth": auth})
    result = CliRunner().invoke(cli, ["check", "--no-secrets", "-i", str(example_copy)])
    assert result.exit_code == 2
    assert "nodes.leaf-bus-stop.agent: basic_auth needs tls" in result.output
    assert "Traceback" not in result.output


def test_disabled_agent_gets_no_config(example_copy: Path) -> None:
    _edit_nodes(example_copy, "leaf-bus-stop", {"enabled": False})
    inv = load_inventory(example_copy, resolve_secrets=True)
    paths = [f.path for f in render_inventory(inv, ["leaf-bus-stop"])["leaf-bus-stop"]]
    assert "etc/meshkeeper/agent.json" not in paths
    assert "etc/config/network" in paths


def test_monitoring_targets_lists_every_agent(example_copy: Path) -> None:
    _edit_nodes(example_copy, "leaf-hillside", {"enabled": False})
    result = CliRunner().invoke(cli, ["monitoring", "targets", "-i", str(example_copy)])
    assert result.exit_code == 0, result.output
    inv = load_inventory(example_copy)
    want = [
        f"{inv.plan[name].management}:{inv.nodes[name].agent.port}"
        for name in sorted(inv.nodes)
        if name != "leaf-hillside"
    ]
    assert result.output.splitlines() == want
    sd = CliRunner().invoke(cli, ["monitoring", "targets", "--file-sd", "-i", str(example_copy)])
    groups = json.loads(sd.output)
    assert [g["targets"][0] for g in groups] == want
    assert groups[0]["labels"]["node"] == agent_targets(inv)[0].node


@contextmanager
def exporter(config_sha256: str = "", **listen: object) -> Iterator[int]:
    """A real agent exporter on 127.0.0.1; yields its port."""
    server = MetricsServer(
        Listen("127.0.0.1", 0, **listen),  # type: ignore[arg-type]
        State(),
        config_sha256=config_sha256,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _endpoint(port: int, sha: str, *, mtls: bool = False) -> AgentEndpoint:
    return AgentEndpoint("127.0.0.1", port, tls=False, mtls=mtls, config_sha256=sha)


NEW, OLD = "ab" * 32, "cd" * 32


def test_push_health_tells_the_new_agent_from_the_old_one() -> None:
    with exporter(config_sha256=OLD) as port:
        seen = agent_before("127.0.0.1", port)
        assert seen == AgentSeen(shows_config=True)
        assert not agent_runs(_endpoint(port, NEW), seen)  # still the old process
    with exporter(config_sha256=NEW) as port:
        assert agent_runs(_endpoint(port, NEW), seen)
        assert not agent_answers("127.0.0.1", port, tls=True)  # plain HTTP is no TLS server


def test_an_agent_that_cannot_show_its_config_counts_by_answering() -> None:
    """An agent from before the config header: any answer of its own counts."""
    with exporter(config_sha256="") as port:
        seen = agent_before("127.0.0.1", port)
    assert seen == AgentSeen(shows_config=False)
    with exporter(config_sha256="") as port:
        assert agent_runs(_endpoint(port, NEW), seen)


def test_basic_auth_still_counts_as_answering() -> None:
    """A 401 no longer carries the config's hash (it was an offline password oracle): the
    agent says it withholds it, and the controller proves it holds the rendered agent.json."""
    auth = BasicAuth("p", "pbkdf2_sha256$1$00$" + "0" * 64)
    with exporter(config_sha256=NEW, basic_auth=auth) as port:
        seen = agent_before("127.0.0.1", port)  # a 401 that says the hash is withheld
        assert seen == AgentSeen(shows_config=True)
        proven = AgentEndpoint(
            "127.0.0.1", port, False, False, NEW, config_proof(auth.password_hash)
        )
        assert agent_runs(proven, seen)
        assert not agent_runs(_endpoint(port, NEW), seen)  # no proof: it cannot tell


def test_push_health_proves_with_the_rendered_password_hash(example_copy: Path) -> None:
    (example_copy / "secrets" / "scrape.pass").write_text("s3cret-token\n")
    auth = {"username": "prometheus", "password": {"file": "secrets/scrape.pass"}}
    tls = {"cert": "/etc/meshkeeper/agent.crt", "key": "/etc/meshkeeper/agent.key"}
    _edit_nodes(example_copy, "leaf-bus-stop", {"basic_auth": auth, "tls": tls})
    data, _ = _agent_json(example_copy, "leaf-bus-stop")
    endpoint = agent_endpoint(_change(example_copy, "leaf-bus-stop"))
    hashed = json.loads(data)["listen"]["basic_auth"]["password_hash"]
    assert endpoint is not None and endpoint.proof == config_proof(hashed)
    plain = agent_endpoint(_change(example_copy, "leaf-library"))
    assert plain is not None and plain.proof is None


def test_another_service_on_the_port_is_not_the_agent() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.0 200 OK\r\nServer: nginx\r\n\r\nhello")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        assert agent_before("127.0.0.1", port, timeout=2) is None
        thread.join(5)


def test_nothing_listening_is_not_answering() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    assert agent_before("127.0.0.1", port, timeout=1) is None


def _change(example_copy: Path, node: str) -> NodeChange:
    inv = load_inventory(example_copy, resolve_secrets=True)
    files = tuple(render_inventory(inv, [node])[node])
    return NodeChange(node, files, "", None)  # type: ignore[arg-type]


def test_mtls_agents_are_not_checked(example_copy: Path) -> None:
    tls = {"cert": "/etc/a.crt", "key": "/etc/a.key", "client_ca": "/etc/ca.crt"}
    _edit_nodes(example_copy, "leaf-bus-stop", {"tls": tls})
    endpoint = agent_endpoint(_change(example_copy, "leaf-bus-stop"))
    assert endpoint is not None and endpoint.tls and endpoint.mtls


def test_every_agent_trusts_the_noc(example_copy: Path) -> None:
    """The NOC's Prometheus and the controller (which runs there) keep reserved slots."""
    inv = load_inventory(example_copy, resolve_secrets=True)
    for name, files in render_inventory(inv).items():
        data = next(f.data for f in files if f.path == "etc/meshkeeper/agent.json")
        config = parse_config(data.decode(), name)
        assert config.listen.trusted == (str(inv.noc.address),)


def _salt(example_copy: Path, node: str) -> str:
    data, _ = _agent_json(example_copy, node)
    return str(json.loads(data)["listen"]["basic_auth"]["password_hash"].split("$")[2])


def test_the_scrape_password_salt_is_keyed_by_a_secret(example_copy: Path) -> None:
    """Not derived from public names only (a scraper could precompute against it), yet the
    same inventory renders the same bytes, so an unchanged inventory never re-pushes."""
    (example_copy / "secrets" / "scrape.pass").write_text("s3cret-token\n")
    auth = {"username": "prometheus", "password": {"file": "secrets/scrape.pass"}}
    tls = {"cert": "/etc/meshkeeper/agent.crt", "key": "/etc/meshkeeper/agent.key"}
    for node in ("leaf-bus-stop", "leaf-library"):
        _edit_nodes(example_copy, node, {"basic_auth": auth, "tls": tls})
    salt = _salt(example_copy, "leaf-bus-stop")
    public = hashlib.sha256(b"meshkeeper-agent/riverside/leaf-bus-stop").digest()[:16]
    assert salt != public.hex()
    assert len(bytes.fromhex(salt)) == 16
    assert _salt(example_copy, "leaf-bus-stop") == salt  # deterministic
    assert _salt(example_copy, "leaf-library") != salt  # per node
    (example_copy / "secrets" / "mesh.key").write_text("another mesh key\n")
    assert _salt(example_copy, "leaf-bus-stop") != salt  # keyed by the secret


FORBIDDEN = ("controller", "lab", "pydantic", "scapy", "yaml", "click", "paramiko")


def test_agent_imports_nothing_from_the_controller_side() -> None:
    for path in (ROOT / "agent").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path}: imports {name}"


def test_steady_state_agent_loads_no_heavy_module(tmp_path: Path) -> None:
    """With the lab-usable collectors built and run once: no pyroute2, scapy or pydantic."""
    config = tmp_path / "agent.json"
    config.write_text(
        json.dumps(
            {
                "version": 1, "node": "n", "network": "t", "role": "leaf",
                "release": "23.05", "model": "m",
                "listen": {"address": "127.0.0.1", "port": 9110},
                "mesh": {"protocol": "babel", "devices": ["mesh0"],
                         "babel_local": "127.0.0.1:9"},
                "collectors": {"system": 15, "interfaces": 15, "babel": 15, "neighbours": 15},
            }
        )
    )  # fmt: skip
    code = (
        "import sys\n"
        "from agent.cli import main\n"
        "main(['collect', '--config', sys.argv[1]])\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('pyroute2', 'scapy', 'pydantic', 'controller', 'yaml')]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert "HEAVY []" in result.stderr, result.stderr
    assert "meshkeeper_collector_success" in result.stdout


def _served(families: list[object], **listen: object) -> tuple[MetricsServer, threading.Thread]:
    from agent.schedule import Job, run_once

    state = State()
    run_once(Job("neighbours", 15, lambda: families), state)  # type: ignore[arg-type,return-value]
    server = MetricsServer(Listen("127.0.0.1", 0, **listen), state)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def test_monitoring_scrape_reads_a_real_agent() -> None:
    from prometheus_client.core import GaugeMetricFamily

    from controller.noc.scrape import scrape_one, summary_table
    from controller.noc.targets import AgentTarget

    up = GaugeMetricFamily("meshkeeper_link_up", "", labels=["neighbor", "medium"])
    up.add_metric(["gw-market", "wifi"], 1)
    up.add_metric(["gw-school", "wifi"], 0)
    server, thread = _served([up])
    try:
        target = AgentTarget("relay", "127.0.0.1", server.server_address[1], "relay", "http")
        view = scrape_one(target)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert view.answer == "ok"
    assert view.links == {"gw-market": True, "gw-school": False}
    assert view.broken == []
    assert view.failing  # gw-school's link is down
    row = summary_table([view]).splitlines()[1].split()
    assert row[:5] == ["relay", "ok", "-", "1/2", "gw-school"]


def test_monitoring_scrape_says_why_there_is_no_reading() -> None:
    from controller.noc.scrape import scrape_one
    from controller.noc.targets import AgentTarget

    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    view = scrape_one(AgentTarget("gone", "127.0.0.1", port, "leaf", "http"), timeout=1)
    assert view.answer.startswith("no answer") and "refused" in view.answer
    auth = BasicAuth("p", "pbkdf2_sha256$1$00$" + "0" * 64)
    server, thread = _served([], basic_auth=auth)
    try:
        port = server.server_address[1]
        locked = scrape_one(AgentTarget("locked", "127.0.0.1", port, "leaf", "http"))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert locked.answer == "answers (needs a password)"
    assert not locked.failing  # answering is what this look can tell


def test_monitoring_scrape_shows_the_verdict_the_agent_holds() -> None:
    """The agent's verdict metric, read by the controller through the contract's names:
    a real detector (fake probes: everything abroad silent) behind a real exporter."""
    from agent.detector import Detector
    from agent.probes.base import Request, Result, result
    from controller.noc.scrape import read_exposition, scrape_one, summary_table
    from controller.noc.targets import AgentTarget

    def abroad_silent(request: Request) -> Result:
        started = 0.0
        foreign = request.target.tier in ("international", "platforms")
        lookup = request.kind == "dns" and request.target.host is not None
        failed = foreign and not lookup
        return result(request, started, ok=not failed, failure="generic_timeout_error")

    golden = ROOT / "tests/fixtures/render/gw-market/etc/meshkeeper/agent.json"
    detector = Detector(
        parse_config(golden.read_text()),
        probers=dict.fromkeys(
            ("icmp", "dns", "tcp", "tls", "http", "throughput", "trace"), abroad_silent
        ),
    )
    for _ in range(3):
        detector.round()
    server, thread = _served(detector.families())
    try:
        target = AgentTarget("gw-market", "127.0.0.1", server.server_address[1], "gateway", "http")
        view = scrape_one(target)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert view.verdict == ["international_shutdown{uplink=wan}"]
    assert summary_table([view]).splitlines()[1].split()[-1] == "international_shutdown{uplink=wan}"

    from controller.noc.scrape import AgentView

    hostile = "".join(
        f'meshkeeper_verdict{{class="x\\n{i}\x1b[31m",uplink="wan"}} 1\n' for i in range(50)
    )
    seen = read_exposition(AgentView("evil", "t", "ok"), hostile)
    assert len(seen.verdict) == 20
    assert "\x1b" not in summary_table([seen])
