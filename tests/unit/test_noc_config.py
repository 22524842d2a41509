"""`meshkeeper monitoring render`: the NOC's Prometheus and Alertmanager configs.

Checked with the real promtool and amtool (Debian's prometheus and
prometheus-alertmanager), on the example inventory and on copies of it edited
for TLS agents, segments, remote write and hostile values.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from agent import contract
from controller.cli import cli
from controller.errors import InventoryError, Problem
from controller.model.load import load_inventory
from controller.noc.config import (
    UNROUTED,
    check_rendered,
    inventory_timing,
    render_monitoring,
)
from controller.noc.rules import render_rules
from controller.noc.targets import agent_targets
from controller.render.output import write_files
from controller.render.tree import RenderedFile, render_inventory

PROMTOOL = "/usr/bin/promtool"
AMTOOL = "/usr/bin/amtool"
EAST = ["gw-market", "gw-school", "relay-clinic", "leaf-bus-stop"]
WEST = ["relay-water-tower", "leaf-library", "leaf-riverbank", "leaf-hillside"]
SEGMENTS = {
    "east": {"address": "10.31.255.240", "nodes": EAST},
    "west": {"address": "10.31.255.241", "port": 9091, "nodes": WEST},
}
SCRAPE_PASS = "Scrape-Pass-5521"  # noqa: S105 - a test's stand-in for one
SECURE = ("gw-market", "relay-clinic")
WEBHOOK_URL = "http://10.31.255.250:9099/alerts?token=Wh-s3cr3t-7731"
RW_URL = "https://vm.riverside.test/api/v1/write"
RW_TOKEN = "Rw-T0ken-4410"  # noqa: S105 - a test's stand-in for one


# ---------------------------------------------------------------- helpers


def _edit(inventory: Path, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = inventory / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _noc(inventory: Path, change: Callable[[dict[str, Any]], None]) -> None:
    _edit(inventory, "network.yaml", lambda data: change(data["noc"]))


def _agents(inventory: Path, nodes: tuple[str, ...] | list[str], agent: dict[str, Any]) -> None:
    def change(data: dict[str, Any]) -> None:
        for node in nodes:
            data["nodes"][node]["agent"] = agent

    _edit(inventory, "nodes.yaml", change)


def _render(inventory: Path, out: Path) -> dict[str, RenderedFile]:
    files = render_monitoring(load_inventory(inventory, resolve_secrets=True))
    write_files(out, files)
    return {f.path: f for f in files}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)


def _promtool_accepts(config: Path) -> str:
    checked = _run(PROMTOOL, "check", "config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return checked.stdout


def _amtool_accepts(config: Path) -> None:
    checked = _run(AMTOOL, "check-config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _refused(inventory: Path) -> list[Problem]:
    with pytest.raises(InventoryError) as caught:
        load_inventory(inventory, resolve_secrets=True)
    return caught.value.problems


def _problem(problems: list[Problem], field: str, what: str) -> Problem:
    found = [p for p in problems if p.field == field and what in p.what]
    assert found, f"no {field}: …{what}… in {[str(p) for p in problems]}"
    return found[0]


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _agent_jobs(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        job
        for job in config["scrape_configs"]
        if job["job_name"].startswith(contract.JOB_AGENTS + "-")
    ]


def _job(config: dict[str, Any], name: str) -> dict[str, Any]:
    [job] = [job for job in config["scrape_configs"] if job["job_name"] == name]
    return job


def _sd_groups(folder: Path, job: dict[str, Any]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for sd in job["file_sd_configs"]:
        for name in sd["files"]:
            groups += json.loads((folder / name).read_text(encoding="utf-8"))
    return groups


def _scraped_nodes(folder: Path) -> list[str]:
    config = _yaml(folder / "prometheus.yml")
    groups = [g for job in _agent_jobs(config) for g in _sd_groups(folder, job)]
    return sorted(g["labels"]["node"] for g in groups)


def _holding(out: Path, secret: str) -> set[str]:
    """Every file under out whose bytes hold `secret`."""
    return {
        str(path.relative_to(out))
        for path in out.rglob("*")
        if path.is_file() and secret.encode() in path.read_bytes()
    }


def _routes_to(alertmanager: Path, **labels: str) -> str:
    tested = _run(
        AMTOOL,
        "config",
        "routes",
        "test",
        f"--config.file={alertmanager}",
        *(f"{k}={v}" for k, v in labels.items()),
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    return tested.stdout.strip()


# ---------------------------------------------------------------- the example


def test_example_passes_promtool_and_amtool(example_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "monitoring"
    inv = load_inventory(example_copy, resolve_secrets=True)
    files = render_monitoring(inv)
    write_files(out, files)
    rules = render_rules(inventory_timing(inv))
    assert rules, "no alert rules rendered"
    for name, text in rules.items():
        assert (out / "rules" / name).read_text(encoding="utf-8") == text
    said = _promtool_accepts(out / "prometheus.yml")
    # promtool checks every rule file the config reaches, too
    assert f"SUCCESS: {len(rules)} rule files found" in said
    for name in rules:
        assert f"Checking {out / 'rules' / name}" in said or f"Checking rules/{name}" in said
    _amtool_accepts(out / "alertmanager.yml")
    assert check_rendered(out, files) == []


def test_check_rendered_reports_what_the_tools_refuse(example_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "monitoring"
    files = {f.path: f for f in render_monitoring(load_inventory(example_copy))}
    broken = {
        "prometheus.yml": files["prometheus.yml"].data + b"scrape_intervall: 15s\n",
        "alertmanager.yml": files["alertmanager.yml"].data.replace(
            b"- receiver: noc-team", b"- receiver: nobody"
        ),
    }
    assert broken["alertmanager.yml"] != files["alertmanager.yml"].data
    written = [RenderedFile(f.path, broken.get(f.path, f.data), f.mode) for f in files.values()]
    write_files(out, written)
    problems = check_rendered(out, written)
    assert len(problems) == 2, problems
    assert problems[0].startswith("prometheus.yml: ") and "scrape_intervall" in problems[0]
    assert problems[1].startswith("alertmanager.yml: amtool rejected it"), problems[1]
    assert "nobody" not in problems[1]  # amtool's words stay off: the file holds secrets


def test_a_webhook_amtool_refuses_never_reaches_the_terminal(
    example_copy: Path, tmp_path: Path
) -> None:
    """A URL whose port is no number was taken by urlsplit and quoted whole by amtool."""
    bad_url = "https://hooks.example:abc/services/SECRETTOKEN123"
    (example_copy / "secrets" / "responders-webhook.url").write_text(bad_url + "\n")
    result = CliRunner().invoke(
        cli, ["monitoring", "render", "-i", str(example_copy), "-o", str(tmp_path / "m")]
    )
    assert result.exit_code == 2, result.output
    assert "SECRETTOKEN123" not in result.output
    assert "not a valid URL" in result.output


def test_file_modes(example_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "monitoring"
    files = _render(example_copy, out)
    for path, file in files.items():
        expected = 0o600 if path == "alertmanager.yml" else 0o644
        assert (file.mode, _mode(out / path)) == (expected, expected), path


def test_the_webhook_url_is_only_in_alertmanager_yml(example_copy: Path, tmp_path: Path) -> None:
    (example_copy / "secrets" / "responders-webhook.url").write_text(WEBHOOK_URL + "\n")
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    assert _holding(out, WEBHOOK_URL) == {"alertmanager.yml"}
    assert _mode(out / "alertmanager.yml") == 0o600
    receivers = {r["name"]: r for r in _yaml(out / "alertmanager.yml")["receivers"]}
    assert receivers["responders"]["webhook_configs"] == [
        {"url": WEBHOOK_URL, "send_resolved": True}
    ]


def test_the_cli_writes_the_render_and_prints_no_secret(
    example_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    webhook = example_copy / "secrets" / "responders-webhook.url"
    webhook.write_text(WEBHOOK_URL + "\n")
    _secure(example_copy)
    monkeypatch.setenv("MK_SMTP_PASSWORD", "Mail-Pass-9902")
    _noc(
        example_copy,
        lambda noc: noc["smtp"].update(
            username="alertmanager", password={"env": "MK_SMTP_PASSWORD"}
        ),
    )
    out = tmp_path / "monitoring"
    result = CliRunner().invoke(
        cli, ["monitoring", "render", "-i", str(example_copy), "-o", str(out), "--check"]
    )
    assert result.exit_code == 0, result.output
    assert "ok" in result.output
    for secret in (WEBHOOK_URL, SCRAPE_PASS, "Mail-Pass-9902"):
        assert secret not in result.output
    expected = render_monitoring(load_inventory(example_copy, resolve_secrets=True))
    for file in expected:
        assert (out / file.path).read_bytes() == file.data, file.path
    assert _holding(out, "Mail-Pass-9902") == {"alertmanager.yml"}


# ---------------------------------------------------------------- targets


def test_file_sd_is_the_targets_list(example_copy: Path, tmp_path: Path) -> None:
    _agents(example_copy, ["leaf-hillside"], {"enabled": False})
    inv = load_inventory(example_copy, resolve_secrets=True)
    out = tmp_path / "monitoring"
    write_files(out, render_monitoring(inv))
    config = _yaml(out / "prometheus.yml")
    groups = [g for job in _agent_jobs(config) for g in _sd_groups(out, job)]
    expected = [
        (
            f"{inv.plan[name].management}:{node.agent.port}",
            {"node": name, "role": node.role, "network": "riverside", "__scheme__": "http"},
        )
        for name, node in sorted(inv.nodes.items())
        if name != "leaf-hillside"
    ]
    assert sorted((g["targets"][0], g["labels"]) for g in groups) == sorted(expected)
    assert all(len(g["targets"]) == 1 for g in groups)
    # the one list: `meshkeeper monitoring targets` prints the same addresses
    printed = CliRunner().invoke(cli, ["monitoring", "targets", "-i", str(example_copy)])
    assert printed.exit_code == 0, printed.output
    assert printed.output.splitlines() == [address for address, _ in expected]
    sd = CliRunner().invoke(cli, ["monitoring", "targets", "--file-sd", "-i", str(example_copy)])
    assert json.loads(sd.output) == groups, "the file Prometheus reads is what it prints"
    assert [t.host_port for t in agent_targets(inv)] == [address for address, _ in expected]


def test_one_agent_job_for_plain_agents(example_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    config = _yaml(out / "prometheus.yml")
    [job] = _agent_jobs(config)
    assert job["scheme"] == "http" and "basic_auth" not in job and "tls_config" not in job
    assert job["relabel_configs"] == [{"target_label": "job", "replacement": contract.JOB_AGENTS}]
    controller = _job(config, contract.JOB_CONTROLLER)
    assert controller["honor_labels"] is True
    assert controller["static_configs"] == [
        {"targets": ["10.31.255.250:9111"], "labels": {"network": "riverside"}}
    ]
    assert config["rule_files"] == ["rules/*.yml"]
    assert config["alerting"]["alertmanagers"] == [
        {"static_configs": [{"targets": ["10.31.255.250:9093"]}]}
    ]


# ---------------------------------------------------------------- alertmanager


def test_routes_follow_the_inventory(example_copy: Path, tmp_path: Path) -> None:
    def more(noc: dict[str, Any]) -> None:
        noc["routes"].append({"receiver": "responders", "categories": ["link", "noc"]})

    _noc(example_copy, more)
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    config = _yaml(out / "alertmanager.yml")
    root = config["route"]
    assert root["receiver"] == UNROUTED
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers[UNROUTED] == {"name": UNROUTED}  # the null receiver: nobody is told
    assert root["routes"] == [
        {
            "receiver": "responders",
            "matchers": ['category=~"shutdown"', 'severity="critical"'],
            "continue": True,
        },
        {"receiver": "noc-team", "matchers": ['category=~"node|link|push|noc"'], "continue": True},
        {"receiver": "responders", "matchers": ['category=~"link|noc"'], "continue": True},
    ]
    assert receivers["noc-team"]["email_configs"] == [
        {"to": "noc@riverside.test", "send_resolved": True}
    ]
    assert config["global"]["smtp_smarthost"] == "10.31.255.250:2525"
    # and Alertmanager routes them so
    am = out / "alertmanager.yml"
    assert _routes_to(am, category="shutdown", severity="critical") == "responders"
    assert _routes_to(am, category="shutdown", severity="warning") == UNROUTED
    assert _routes_to(am, category="node", severity="warning") == "noc-team"
    assert _routes_to(am, category="link", severity="info") == "noc-team,responders"
    assert _routes_to(am, category="shutdowns", severity="critical") == UNROUTED


@pytest.mark.parametrize("name", ["unrouted", "null", "default"])
def test_any_receiver_name_leaves_the_root_receiver_alone(
    example_copy: Path, tmp_path: Path, name: str
) -> None:
    def rename(noc: dict[str, Any]) -> None:
        noc["receivers"][name] = noc["receivers"].pop("noc-team")
        noc["routes"][1]["receiver"] = name

    _noc(example_copy, rename)
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    _amtool_accepts(out / "alertmanager.yml")
    assert _routes_to(out / "alertmanager.yml", category="node", severity="info") == name
    assert _routes_to(out / "alertmanager.yml", category="shutdown", severity="info") == UNROUTED


def test_email_receivers_need_a_mail_server(example_copy: Path) -> None:
    _noc(example_copy, lambda noc: noc.pop("smtp"))
    problem = _problem(
        _refused(example_copy), "noc.receivers.noc-team.email", "needs a mail server"
    )
    network = example_copy / "network.yaml"
    assert problem.location.file.endswith("network.yaml")
    assert problem.location.line == _line_of(network, "email: noc@riverside.test")
    assert "noc.smtp" in problem.todo


# ---------------------------------------------------------------- TLS and basic auth


def _secure(inventory: Path, *, scrape_tls: bool = True) -> None:
    agent = {
        "tls": {"cert": "/etc/meshkeeper/agent.crt", "key": "/etc/meshkeeper/agent.key"},
        "basic_auth": {"username": "prometheus", "password": {"file": "secrets/scrape.pass"}},
    }
    _agents(inventory, SECURE, agent)
    (inventory / "secrets" / "scrape.pass").write_text(SCRAPE_PASS + "\n")
    if scrape_tls:
        _noc(inventory, lambda noc: noc.update(scrape_tls={"ca_file": "/etc/meshkeeper/ca.crt"}))


def test_tls_agents_are_a_second_job(example_copy: Path, tmp_path: Path) -> None:
    _secure(example_copy)
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    config = _yaml(out / "prometheus.yml")
    jobs = {job["scheme"]: job for job in _agent_jobs(config)}
    assert sorted(jobs) == ["http", "https"]
    for job in jobs.values():
        # both are the one job the rules select on
        assert job["relabel_configs"] == [
            {"target_label": "job", "replacement": contract.JOB_AGENTS}
        ]
    secure = jobs["https"]
    assert secure["tls_config"] == {"ca_file": "/etc/meshkeeper/ca.crt"}
    assert secure["basic_auth"]["username"] == "prometheus"
    password_file = out / secure["basic_auth"]["password_file"]
    assert secure["basic_auth"]["password_file"].startswith("secrets/")
    assert password_file.read_text() == SCRAPE_PASS
    assert _mode(password_file) == 0o600
    assert _holding(out, SCRAPE_PASS) == {str(password_file.relative_to(out))}
    assert sorted(g["labels"]["node"] for g in _sd_groups(out, secure)) == sorted(SECURE)
    plain = _sd_groups(out, jobs["http"])
    assert len(plain) == 8 - len(SECURE) and not {g["labels"]["node"] for g in plain} & set(SECURE)
    _promtool_accepts(out / "prometheus.yml")


def test_agents_asking_for_a_client_certificate(example_copy: Path, tmp_path: Path) -> None:
    agent = {
        "tls": {
            "cert": "/etc/meshkeeper/agent.crt",
            "key": "/etc/meshkeeper/agent.key",
            "client_ca": "/etc/meshkeeper/ca.crt",
        }
    }
    _agents(example_copy, ["leaf-library"], agent)
    _noc(example_copy, lambda noc: noc.update(scrape_tls={"ca_file": "/etc/meshkeeper/ca.crt"}))
    problem = _problem(_refused(example_copy), "nodes.leaf-library.agent.tls.client_ca", "client")
    assert problem.location.file.endswith("nodes.yaml") and problem.location.line > 0

    # the NOC's certificate and key: promtool looks for them, so real files here
    pki = tmp_path / "pki"
    pki.mkdir()
    for name in ("ca.crt", "noc.crt", "noc.key"):
        (pki / name).write_text("not checked by promtool\n")
    tls = {"ca_file": f"{pki}/ca.crt", "cert_file": f"{pki}/noc.crt", "key_file": f"{pki}/noc.key"}
    _noc(example_copy, lambda noc: noc.update(scrape_tls=tls))
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    config = _yaml(out / "prometheus.yml")
    jobs = {job["scheme"]: job for job in _agent_jobs(config)}
    assert jobs["https"]["tls_config"] == tls
    assert "basic_auth" not in jobs["https"]
    _promtool_accepts(out / "prometheus.yml")


def test_tls_agents_need_the_nocs_ca(example_copy: Path) -> None:
    _secure(example_copy, scrape_tls=False)
    problems = _refused(example_copy)
    for node in SECURE:
        problem = _problem(problems, f"nodes.{node}.agent.tls", "no CA")
        assert problem.location.file.endswith("nodes.yaml") and problem.location.line > 0
        assert "noc.scrape_tls" in problem.todo


# ---------------------------------------------------------------- segments


def _segment(inventory: Path, segments: dict[str, Any] = SEGMENTS) -> None:
    _noc(inventory, lambda noc: noc.update(segments=segments))


def _alert_scopes(files: Iterable[Path]) -> dict[str, set[str]]:
    """scope → the alerts of that scope in these rule files."""
    scopes: dict[str, set[str]] = {}
    for path in files:
        for group in _yaml(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    scopes.setdefault(rule["labels"]["scope"], set()).add(rule["alert"])
    return scopes


def test_each_segment_scrapes_its_own_routers(example_copy: Path, tmp_path: Path) -> None:
    _segment(example_copy)
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    for name, nodes in (("east", EAST), ("west", WEST)):
        folder = out / "segments" / name
        config = _yaml(folder / "prometheus.yml")
        assert _scraped_nodes(folder) == sorted(nodes)
        assert config["global"]["external_labels"] == {"network": "riverside", "segment": name}
        assert config["alerting"]["alertmanagers"] == [
            {"static_configs": [{"targets": ["10.31.255.250:9093"]}]}
        ]
        [pattern] = config["rule_files"]
        reached = sorted(p.name for p in folder.glob(pattern))
        assert reached == sorted(p.name for p in (out / "rules" / "segment").iterdir())
        assert reached, "the segment's rules reach no file"
        local = _alert_scopes(folder.glob(pattern))
        assert local and "fleet" not in local, local  # the NOC evaluates those
        said = _promtool_accepts(folder / "prometheus.yml")
        assert f"SUCCESS: {len(reached)} rule files found" in said
        # the push rules need the controller's view of this segment's routers
        controller = _job(config, contract.JOB_CONTROLLER)
        assert controller["honor_labels"] is True
        [keep] = controller["metric_relabel_configs"]
        assert (keep["source_labels"], keep["action"]) == (["node"], "keep")
        for node in EAST + WEST:
            kept = re.fullmatch(keep["regex"], node) is not None
            assert kept == (node in nodes), (name, node)
    assert _scraped_nodes(out) == []


def test_the_noc_federates_from_every_segment(example_copy: Path, tmp_path: Path) -> None:
    _segment(example_copy)
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    config = _yaml(out / "prometheus.yml")
    [pattern] = config["rule_files"]
    fleet = _alert_scopes(out.glob(pattern))
    assert set(fleet) == {"fleet"}, fleet  # over every segment's routers at once
    assert {"InternationalShutdown", "NocCutOff", "SegmentUnreachable"} <= set(fleet["fleet"])
    said = _promtool_accepts(out / "prometheus.yml")
    assert "SUCCESS" in said
    assert _agent_jobs(config) == []
    for name, address in (("east", "10.31.255.240:9090"), ("west", "10.31.255.241:9091")):
        job = _job(config, f"{contract.JOB_FEDERATE}{name}")
        assert job["metrics_path"] == "/federate"
        assert job["honor_labels"] is True
        assert job["params"] == {"match[]": [f'{{job="{contract.JOB_AGENTS}"}}']}
        assert [t for group in job["static_configs"] for t in group["targets"]] == [address]
    assert _job(config, contract.JOB_CONTROLLER)["static_configs"] == [
        {"targets": ["10.31.255.250:9111"], "labels": {"network": "riverside"}}
    ]
    _promtool_accepts(out / "prometheus.yml")


def test_agents_trust_their_segments_prometheus(example_copy: Path) -> None:
    _segment(example_copy)
    inv = load_inventory(example_copy, resolve_secrets=True)
    for node, files in render_inventory(inv).items():
        [agent_json] = [f for f in files if f.path.endswith("meshkeeper/agent.json")]
        trusted = json.loads(agent_json.data)["listen"]["trusted"]
        segment = "10.31.255.240" if node in EAST else "10.31.255.241"
        assert trusted == ["10.31.255.250", segment], node


def test_segments_with_tls_agents(example_copy: Path, tmp_path: Path) -> None:
    _segment(example_copy)
    _secure(example_copy)
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    east = out / "segments" / "east"
    assert _scraped_nodes(east) == sorted(EAST)
    [secure] = [j for j in _agent_jobs(_yaml(east / "prometheus.yml")) if j["scheme"] == "https"]
    assert (east / secure["basic_auth"]["password_file"]).read_text() == SCRAPE_PASS
    assert _holding(out, SCRAPE_PASS) == {f"segments/east/{secure['basic_auth']['password_file']}"}
    assert [j["scheme"] for j in _agent_jobs(_yaml(out / "segments/west/prometheus.yml"))] == [
        "http"
    ]
    _promtool_accepts(east / "prometheus.yml")


def _moved(**change: list[str]) -> dict[str, Any]:
    segments = {name: dict(spec) for name, spec in SEGMENTS.items()}
    for name, nodes in change.items():
        segments[name]["nodes"] = nodes
    return segments


@pytest.mark.parametrize(
    ("segments", "field", "what"),
    [
        (_moved(east=[*EAST, "leaf-library"]), "noc.segments.west.nodes[1]", "already in segment"),
        (_moved(west=WEST[:-1]), "noc.segments", "'leaf-hillside' is in no segment"),
        (_moved(east=[*EAST, "leaf-nowhere"]), "noc.segments.east.nodes[4]", "unknown node"),
        (
            {**SEGMENTS, "east": {**SEGMENTS["east"], "address": "10.31.255.250"}},
            "noc.segments.east.address",
            "the NOC's address",
        ),
        (
            {**SEGMENTS, "west": {**SEGMENTS["west"], "address": "10.31.255.240"}},
            "noc.segments.west.address",
            "segment east's address",
        ),
    ],
)
def test_segments_that_do_not_split_the_mesh(
    example_copy: Path, segments: dict[str, Any], field: str, what: str
) -> None:
    _segment(example_copy, segments)
    problem = _problem(_refused(example_copy), field, what)
    assert problem.location.file.endswith("network.yaml") and problem.location.line > 0


# ---------------------------------------------------------------- remote write


def _remote_write(inventory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MK_RW_TOKEN", RW_TOKEN)
    store = {"url": RW_URL, "bearer_token": {"env": "MK_RW_TOKEN"}}
    _noc(inventory, lambda noc: noc.update(remote_write=[store]))


def _check_remote_write(folder: Path) -> Path:
    [store] = _yaml(folder / "prometheus.yml")["remote_write"]
    assert store["url"] == RW_URL
    assert list(store["authorization"]) == ["credentials_file"]
    token = folder / store["authorization"]["credentials_file"]
    assert token.read_text() == RW_TOKEN and _mode(token) == 0o600
    _promtool_accepts(folder / "prometheus.yml")
    return token


def test_remote_write_from_the_noc(
    example_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _remote_write(example_copy, monkeypatch)
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    token = _check_remote_write(out)
    assert _holding(out, RW_TOKEN) == {str(token.relative_to(out))}


def test_remote_write_from_the_segments_only(
    example_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _remote_write(example_copy, monkeypatch)
    _segment(example_copy)
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    tokens = {
        str(_check_remote_write(out / "segments" / name).relative_to(out)) for name in SEGMENTS
    }
    assert "remote_write" not in _yaml(out / "prometheus.yml")  # it only federates
    assert _holding(out, RW_TOKEN) == tokens


def test_remote_write_token_must_be_set(example_copy: Path) -> None:
    store = {"url": RW_URL, "bearer_token": {"env": "MK_UNSET_TOKEN_4410"}}
    _noc(example_copy, lambda noc: noc.update(remote_write=[store]))
    problems = _refused(example_copy)
    assert any(p.field == "noc.remote_write[0].bearer_token" for p in problems), [
        str(p) for p in problems
    ]


def test_a_long_bearer_token_is_taken_and_one_with_a_space_refused(
    example_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9." + "x" * 2000 + ".sig"  # far past a password's 255 bytes
    monkeypatch.setenv("MK_RW_TOKEN", jwt)
    store = {"url": RW_URL, "bearer_token": {"env": "MK_RW_TOKEN"}}
    _noc(example_copy, lambda noc: noc.update(remote_write=[store]))
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    [written] = _yaml(out / "prometheus.yml")["remote_write"]
    assert (out / written["authorization"]["credentials_file"]).read_text() == jwt
    monkeypatch.setenv("MK_RW_TOKEN", "Bearer abc")
    problems = _refused(example_copy)
    assert any(
        p.field == "noc.remote_write[0].bearer_token" and "space" in p.what for p in problems
    ), [str(p) for p in problems]


# ---------------------------------------------------------------- hostile values


@pytest.mark.parametrize(
    "email",
    [
        "noc@riverside.test\nreceivers: []",
        "noc@riverside.test\n",
        "noc@riverside.test\r",
        "noc@riverside.test\u2028x",
        "noc@riverside.test other@riverside.test",
    ],
)
@pytest.mark.parametrize("where", ["receiver", "sender"])
def test_mail_addresses_on_several_lines_are_refused(
    example_copy: Path, where: str, email: str
) -> None:
    if where == "receiver":
        _noc(example_copy, lambda noc: noc["receivers"]["noc-team"].update(email=email))
        field = "noc.receivers.noc-team.email"
    else:
        _noc(example_copy, lambda noc: noc["smtp"].update(sender=email))
        field = "noc.smtp.sender"
    problems = _refused(example_copy)
    assert any(p.field == field for p in problems), [str(p) for p in problems]


YAML_LOOKING = [
    "*alias@riverside.test",
    "&anchor@riverside.test",
    "!!python/object@riverside.test",
    "'quoted'@riverside.test",
    '"dq"#comment@riverside.test',
    "x@[riverside]:test",
    "{a:b}@riverside.test",
    "|>%-?,@riverside.test",
    "noc@riverside.test#not-a-comment",
]


@pytest.mark.parametrize("email", YAML_LOOKING)
def test_yaml_looking_mail_addresses_stay_one_value(
    example_copy: Path, tmp_path: Path, email: str
) -> None:
    def change(noc: dict[str, Any]) -> None:
        noc["receivers"]["noc-team"]["email"] = email
        noc["smtp"]["sender"] = email
        noc["smtp"]["username"] = "am"
        noc["smtp"]["password"] = {"file": "secrets/smtp.pass"}

    _noc(example_copy, change)
    password = "'\"#: {x} [y] &z *w !v |u >t %s @r `q"  # noqa: S105 - YAML-looking
    (example_copy / "secrets" / "smtp.pass").write_text(password + "\n")
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    config = _yaml(out / "alertmanager.yml")
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["noc-team"]["email_configs"] == [{"to": email, "send_resolved": True}]
    assert config["global"]["smtp_from"] == email
    assert config["global"]["smtp_auth_password"] == password
    assert sorted(receivers) == sorted([UNROUTED, "noc-team", "responders"])
    _amtool_accepts(out / "alertmanager.yml")


@pytest.mark.parametrize("email", ["{{ .Status }}@riverside.test", "a{{@riverside.test"])
def test_mail_addresses_alertmanager_would_read_as_templates(
    example_copy: Path, email: str
) -> None:
    _noc(example_copy, lambda noc: noc["receivers"]["noc-team"].update(email=email))
    _problem(_refused(example_copy), "noc.receivers.noc-team.email", "")
    _noc(example_copy, lambda noc: noc["receivers"]["noc-team"].update(email="noc@x.test"))
    _noc(example_copy, lambda noc: noc["smtp"].update(sender=email))
    _problem(_refused(example_copy), "noc.smtp.sender", "")


def test_yaml_looking_remote_write_url_stays_one_value(example_copy: Path, tmp_path: Path) -> None:
    url = "https://vm.riverside.test/api/v1/write?a='b'&c=\"d\"#e:{f}"
    _noc(example_copy, lambda noc: noc.update(remote_write=[{"url": url}]))
    out = tmp_path / "monitoring"
    _render(example_copy, out)
    assert _yaml(out / "prometheus.yml")["remote_write"] == [{"url": url}]


# ---------------------------------------------------------------- hostile agents


def test_every_label_an_annotation_queries_by_is_kept_plain() -> None:
    """The rules put these labels into the PromQL their annotations run: a label a
    hostile agent fills with quotes and braces must never reach them."""
    from controller.noc.config import INTERPOLATED_LABELS, PLAIN_LABELS

    used: set[str] = set()
    for text in render_rules().values():
        for query in re.findall(r"printf `[^`]*`((?: \$labels\.[a-z]+)+)", text):
            used |= set(re.findall(r"\$labels\.([a-z]+)", query))
    assert {"target", "platform", "neighbor", "isp"} <= used, used
    assert used - {"network", "node"} <= set(INTERPOLATED_LABELS), used  # node, network: ours
    keep = re.compile(PLAIN_LABELS["regex"])  # RE2 and Python agree on this class

    def kept(**labels: str) -> bool:
        values = [labels.get(name, "") for name in PLAIN_LABELS["source_labels"]]
        return keep.fullmatch(PLAIN_LABELS["separator"].join(values)) is not None

    assert kept(**{"class": "platform_blocked", "uplink": "wan2", "platform": "chat"})
    assert kept(neighbor="relay-clinic", medium="wifi", isp="isp-fibre", target="intl.dns")
    assert not kept(target='x"} or {__name__=~".+"} or x{a="')
    assert not kept(neighbor="gw-market\n", isp="isp fibre")
    assert not kept(platform="<script>")


def test_every_agent_job_keeps_only_plain_labels(example_copy: Path, tmp_path: Path) -> None:
    from controller.noc.config import PLAIN_LABELS

    out = tmp_path / "monitoring"
    _render(example_copy, out)
    for job in _agent_jobs(_yaml(out / "prometheus.yml")):
        assert PLAIN_LABELS in job["metric_relabel_configs"], job


def test_every_alert_an_inhibition_names_is_a_rule() -> None:
    """The inhibitions name alerts of monitoring/rules/: a renamed rule must not leave
    an inhibition that never matches (and a page that is never held back, or always)."""
    from controller.noc.config import INHIBIT_RULES

    rules = {
        rule["alert"]
        for text in render_rules().values()
        for group in yaml.safe_load(text)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    named: set[str] = set()
    for inhibit in INHIBIT_RULES:
        for matcher in [*inhibit["source_matchers"], *inhibit["target_matchers"]]:
            found = re.fullmatch(r'alertname=~?"([^"]+)"', matcher)
            if found:
                named |= set(found.group(1).split("|"))
    assert named and named <= rules, named - rules
