"""`meshkeeper monitoring render`: the NOC's Prometheus and Alertmanager, from the inventory.

    DIR/prometheus.yml            the NOC's Prometheus: the agents (file_sd), the
                                  controller's exporter, itself; rules; Alertmanager.
                                  With noc.segments: federates from every segment.
    DIR/targets/agents-N.json     file_sd, one file per way of scraping (scheme, auth)
    DIR/rules/*.yml               monitoring/rules/ with the contract's names and timing
                                  (with segments: rules/fleet/ for the NOC, rules/segment/)
    DIR/alertmanager.yml          routes by category and severity to noc.receivers (0600:
                                  webhook URLs and the mail password are secrets)
    DIR/secrets/*                 passwords and tokens Prometheus reads (0600)
    DIR/segments/NAME/prometheus.yml + targets/   one Prometheus per mesh segment: its
                                  routers, and their push state from the exporter

Every path in a prometheus.yml is relative to it, so DIR can be copied to the NOC
as it is. The targets come from controller.noc.targets, the one list
`meshkeeper monitoring targets` prints too. Metric and job names come from
agent/contract.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agent import contract
from controller.model.inventory import Inventory
from controller.model.schema import Noc
from controller.model.types import EnvSecret, FileSecret
from controller.noc.rules import Timing, render_rules
from controller.noc.targets import AgentTarget, agent_targets, file_sd
from controller.render.context import SecretCache
from controller.render.tree import RenderedFile
from controller.secrets import PASSWORD, TOKEN, WEBHOOK

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
# Alertmanager's root receiver: alerts no route asked for (still listed). Not a hostname,
# so no inventory receiver can take its name.
MAX_SCRAPE_SECONDS = 60
UNROUTED = "unrouted_alerts"
FEDERATE_MATCH = (f'{{job="{contract.JOB_AGENTS}"}}',)


@dataclass(frozen=True)
class AlertTiming:
    """How soon Alertmanager tells (the lab shortens them to seconds)."""

    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"


def _file(path: str, data: bytes, mode: int = PUBLIC_MODE) -> RenderedFile:
    return RenderedFile(path, data, mode)


def inventory_timing(inv: Inventory) -> Timing:
    """The probe round from probes.interval; scrapes as often as the most eager agent
    collects (scraping more often than an agent collects costs nothing)."""
    intervals = [n.agent.interval for n in inv.nodes.values() if n.agent.enabled]
    # Scraped at least once a minute: Prometheus forgets a series after 5 minutes without a
    # sample, and an agent's cache is cheap to read. A link is judged by the slowest
    # agent's rounds: its echo result changes no faster.
    scrape = min(min(intervals, default=15), MAX_SCRAPE_SECONDS)
    return Timing(
        round_seconds=inv.probes.interval,
        scrape_seconds=scrape,
        collect_seconds=max(intervals, default=15),
    )


def render_monitoring(
    inv: Inventory, timing: Timing | None = None, alerting: AlertTiming | None = None
) -> list[RenderedFile]:
    timing = timing or inventory_timing(inv)
    secrets = SecretCache(inv)
    rules = render_rules(timing)
    noc = inv.noc
    if noc.segments:
        out = [
            _file(f"rules/{where}/{name}", text.encode())
            for where, split in zip(RULE_PLACES, _split(rules), strict=True)
            for name, text in split.items()
        ]
    else:
        out = [_file(f"rules/{name}", text.encode()) for name, text in rules.items()]
    targets = agent_targets(inv)
    if noc.segments:
        for name, segment in sorted(noc.segments.items()):
            members = [t for t in targets if t.node in segment.nodes]
            out += _prometheus(
                inv, secrets, members, timing, f"segments/{name}/", {"segment": name}
            )
        out += _prometheus(inv, secrets, [], timing, "", {}, federate=True)
    else:
        out += _prometheus(inv, secrets, targets, timing, "", {})
    out.append(
        _file("alertmanager.yml", _dump(alertmanager_config(noc, secrets, alerting)), SECRET_MODE)
    )
    return out


# With segments, where each rule runs: a fleet-wide one (scope fleet) on the NOC, over
# every segment's routers (two gateways on two ISPs may sit in two segments); the
# others in the segment that scrapes the router, so they go on alerting through a cut.
RULE_PLACES = ("fleet", "segment")


def _rules_of(base: str, federate: bool) -> str:
    if federate:
        return f"{RULE_PLACES[0]}/"
    return f"{RULE_PLACES[1]}/" if base else ""


def _split(rules: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The rule files as (fleet-scope rules, the others), groups without rules left out."""
    fleet: dict[str, str] = {}
    local: dict[str, str] = {}
    for name, text in rules.items():
        groups = yaml.safe_load(text)["groups"]
        for wanted, into in ((True, fleet), (False, local)):
            kept = [
                {**group, "rules": picked}
                for group in groups
                if (picked := [r for r in group["rules"] if _fleet(r) == wanted])
            ]
            if kept:
                into[name] = yaml.safe_dump({"groups": kept}, sort_keys=False, width=100)
    return fleet, local


def _fleet(rule: dict[str, Any]) -> bool:
    return bool(rule.get("labels", {}).get("scope") == "fleet")


def _prometheus(
    inv: Inventory,
    secrets: SecretCache,
    targets: list[AgentTarget],
    timing: Timing,
    base: str,
    external: dict[str, str],
    *,
    federate: bool = False,
) -> list[RenderedFile]:
    noc = inv.noc
    up = "../../" if base else ""  # from a segment's folder back to DIR
    files: list[RenderedFile] = []
    scrapes: list[dict[str, Any]] = []
    for index, (way, members) in enumerate(_ways(inv, targets)):
        name = f"targets/agents-{index + 1}.json"
        files.append(_file(base + name, file_sd(members, inv.network.name).encode()))
        scrapes.append(_agent_job(inv, secrets, way, index + 1, name, files, base))
    if federate:
        for seg_name, segment in sorted(noc.segments.items()):
            scrapes.append(
                {
                    "job_name": f"{contract.JOB_FEDERATE}{seg_name}",
                    "honor_labels": True,
                    "metrics_path": "/federate",
                    "params": {"match[]": list(FEDERATE_MATCH)},
                    "static_configs": [
                        {
                            "targets": [f"{segment.address}:{segment.port}"],
                            "labels": {"segment": seg_name},
                        }
                    ],
                }
            )
    scrapes.append(_controller_job(inv, external.get("segment")))
    address = noc.segments[external["segment"]].address if base else noc.address
    port = noc.segments[external["segment"]].port if base else noc.prometheus.port
    scrapes.append(
        {"job_name": "prometheus", "static_configs": [{"targets": [f"{address}:{port}"]}]}
    )
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": f"{timing.scrape_seconds}s",
            "scrape_timeout": f"{min(timing.scrape_seconds, 10)}s",
            "evaluation_interval": f"{timing.scrape_seconds}s",
            "external_labels": {"network": inv.network.name, **external},
        },
        # The rules run where the agents are scraped: a segment keeps alerting through a
        # cut; the NOC evaluates them only when it scrapes the agents itself.
        "rule_files": [f"{up}rules/{_rules_of(base, federate)}*.yml"],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"{noc.address}:{noc.alertmanager.port}"]}]}
            ]
        },
        "scrape_configs": scrapes,
    }
    if noc.remote_write and not federate:
        config["remote_write"] = [
            _remote_write(secrets, index, store.url, store.bearer_token, files, base)
            for index, store in enumerate(noc.remote_write)
        ]
    files.append(_file(base + "prometheus.yml", _dump(config)))
    return files


def _controller_job(inv: Inventory, segment: str | None) -> dict[str, Any]:
    """The controller's exporter, on the NOC. A segment's Prometheus scrapes it too, for
    its own routers only: the push rules (ConfigDrift, ...) run where the rules run."""
    job: dict[str, Any] = {
        "job_name": contract.JOB_CONTROLLER,
        "honor_labels": True,
        "static_configs": [
            {
                "targets": [f"{inv.noc.address}:{inv.noc.exporter.port}"],
                "labels": {"network": inv.network.name},  # as file_sd labels the agents
            }
        ],
    }
    if segment is not None:
        nodes = sorted(inv.noc.segments[segment].nodes)
        job["metric_relabel_configs"] = [
            {"source_labels": ["node"], "regex": "|".join(map(re.escape, nodes)), "action": "keep"}
        ]
    return job


# The labels the rules' annotations put into the queries they run (`query` with printf):
# an agent is a program on a router anyone near it may have replaced, and a value such as
# `x"} or {__name__=~".+"} or x{a="` would rewrite those queries. Whatever a meshkeeper
# agent writes there is an inventory name or a word of the contract, so a series with any
# other character in them is not kept.
INTERPOLATED_LABELS = ["class", "uplink", "target", "platform", "layer", "neighbor", "isp",
                       "medium", "reason"]  # fmt: skip
PLAIN_LABELS: dict[str, Any] = {
    "source_labels": INTERPOLATED_LABELS,
    "separator": ";",
    "regex": "[A-Za-z0-9_.:;-]*",
    "action": "keep",
}


@dataclass(frozen=True)
class _Way:
    """How an agent is scraped: each distinct way is one scrape job."""

    scheme: str
    username: str = ""
    password: EnvSecret | FileSecret | None = None
    client_cert: bool = False

    def key(self) -> tuple[str, str, str, bool]:
        return (self.scheme, self.username, repr(self.password), self.client_cert)


def _ways(inv: Inventory, targets: list[AgentTarget]) -> list[tuple[_Way, list[AgentTarget]]]:
    ways: dict[_Way, list[AgentTarget]] = {}
    for target in targets:
        agent = inv.nodes[target.node].agent
        auth = agent.basic_auth
        way = _Way(
            target.scheme,
            auth.username if auth else "",
            auth.password if auth else None,
            bool(agent.tls and agent.tls.client_ca),
        )
        ways.setdefault(way, []).append(target)
    return sorted(ways.items(), key=lambda item: item[0].key())


def _agent_job(
    inv: Inventory,
    secrets: SecretCache,
    way: _Way,
    number: int,
    sd_file: str,
    files: list[RenderedFile],
    base: str,
) -> dict[str, Any]:
    job: dict[str, Any] = {
        "job_name": f"{contract.JOB_AGENTS}-{number}",
        "scheme": way.scheme,
        "file_sd_configs": [{"files": [sd_file]}],
        # every way of scraping is the one job the rules select on
        "relabel_configs": [{"target_label": "job", "replacement": contract.JOB_AGENTS}],
        "metric_relabel_configs": [PLAIN_LABELS],
    }
    tls = inv.noc.scrape_tls
    if way.scheme == "https" and tls is not None:
        job["tls_config"] = {"ca_file": tls.ca_file}
        if way.client_cert and tls.cert_file and tls.key_file:
            job["tls_config"] |= {"cert_file": tls.cert_file, "key_file": tls.key_file}
    if way.password is not None:
        name = f"secrets/agents-{number}.password"
        data = secrets.text(way.password, PASSWORD).encode()
        files.append(_file(base + name, data, SECRET_MODE))
        job["basic_auth"] = {"username": way.username, "password_file": name}
    return job


def _remote_write(
    secrets: SecretCache,
    index: int,
    url: str,
    token: EnvSecret | FileSecret | None,
    files: list[RenderedFile],
    base: str,
) -> dict[str, Any]:
    store: dict[str, Any] = {"url": url}
    if token is not None:
        name = f"secrets/remote-write-{index + 1}.token"
        files.append(_file(base + name, secrets.text(token, TOKEN).encode(), SECRET_MODE))
        store["authorization"] = {"credentials_file": name}
    return store


def alertmanager_config(
    noc: Noc, secrets: SecretCache, alerting: AlertTiming | None = None
) -> dict[str, Any]:
    timing = alerting or AlertTiming()
    receivers: list[dict[str, Any]] = [{"name": UNROUTED}]
    for name, spec in sorted(noc.receivers.items()):
        if spec.webhook is not None:
            url = secrets.text(spec.webhook, WEBHOOK)
            receivers.append(
                {"name": name, "webhook_configs": [{"url": url, "send_resolved": True}]}
            )
        elif spec.email is not None:
            receivers.append(
                {"name": name, "email_configs": [{"to": spec.email, "send_resolved": True}]}
            )
    routes = []
    for route in noc.routes:
        matchers = [f'category=~"{"|".join(route.categories)}"']
        if route.severity is not None:
            matchers.append(f'severity="{route.severity}"')
        # every route that asked for an alert gets it: nobody misses one by order
        routes.append({"receiver": route.receiver, "matchers": matchers, "continue": True})
    config: dict[str, Any] = {
        "route": {
            "receiver": UNROUTED,
            "group_by": ["alertname", "category", "scope", "severity"],
            "group_wait": timing.group_wait,
            "group_interval": timing.group_interval,
            "repeat_interval": timing.repeat_interval,
            "routes": routes,
        },
        "inhibit_rules": INHIBIT_RULES,
        "receivers": receivers,
    }
    if noc.smtp is not None:
        smtp = noc.smtp
        config["global"] = {
            "smtp_smarthost": smtp.smarthost,
            "smtp_from": smtp.sender,
            "smtp_require_tls": smtp.require_tls,
        }
        if smtp.username is not None:
            config["global"]["smtp_auth_username"] = smtp.username
        if smtp.password is not None:
            config["global"]["smtp_auth_password"] = secrets.text(smtp.password, PASSWORD)
    return config


# Where one alert says it all. A source mutes only alerts of its own network and segment
# (`equal`), and never one more severe than itself: a page must not be muted by a
# warning (a warning NationalShutdown from one gateway must leave a critical
# InternationalShutdown from two ISPs alone).
_SAME_PLACE = ["network", "segment"]
INHIBIT_RULES: list[dict[str, Any]] = [
    # the NOC lost the mesh: the routers are not each "down"
    {
        "source_matchers": ['alertname="NocCutOff"'],
        "target_matchers": ['category="node"'],
        "equal": _SAME_PLACE,
    },
    # a national shutdown is also an international one, at the same severity or below
    {
        "source_matchers": ['alertname="NationalShutdown"', 'severity="critical"'],
        "target_matchers": ['alertname=~"InternationalShutdown|ShutdownSuspected"'],
        "equal": _SAME_PLACE,
    },
    {
        "source_matchers": ['alertname="NationalShutdown"', 'severity="warning"'],
        "target_matchers": [
            'alertname=~"InternationalShutdown|ShutdownSuspected"',
            'severity="warning"',
        ],
        "equal": _SAME_PLACE,
    },
    # a shutdown verdict explains the early warning
    {
        "source_matchers": ['alertname=~"InternationalShutdown|NationalShutdown"'],
        "target_matchers": ['alertname="ShutdownSuspected"'],
        "equal": _SAME_PLACE,
    },
    # a lost link is not also a degraded one
    {
        "source_matchers": ['alertname="LinkLost"'],
        "target_matchers": ['alertname="LinkDegraded"'],
        "equal": [*_SAME_PLACE, "node", "neighbor"],
    },
]


def _dump(config: dict[str, Any]) -> bytes:
    header = "# Rendered by `meshkeeper monitoring render` from the inventory: do not edit.\n"
    return (header + yaml.safe_dump(config, sort_keys=False, width=100)).encode()


def check_rendered(root: Path, files: list[RenderedFile]) -> list[str]:
    """promtool check config on every prometheus.yml written, amtool check-config on
    alertmanager.yml: their complaints, one per file (empty: both accept them)."""
    problems: list[str] = []
    for file in files:
        if file.path.endswith("prometheus.yml"):
            command = ["promtool", "check", "config", str(root / file.path)]
        elif file.path == "alertmanager.yml":
            command = ["amtool", "check-config", str(root / file.path)]
        else:
            continue
        if shutil.which(command[0]) is None:
            problems.append(
                f"{command[0]} not found: install Debian's prometheus / "
                "prometheus-alertmanager packages"
            )
            continue
        try:
            result = subprocess.run(  # noqa: S603 - argv list: the tool and a path we wrote
                command, capture_output=True, text=True, check=False, timeout=60
            )
        except subprocess.TimeoutExpired:
            problems.append(f"{file.path}: {command[0]} did not finish within 60 s")
            continue
        if result.returncode == 0:
            continue
        if file.mode == SECRET_MODE:
            # amtool quotes what it rejects, and this file holds the webhook URLs and the
            # mail password: its words stay off the terminal (and out of CI logs)
            problems.append(
                f"{file.path}: {command[0]} rejected it; what it said is not shown (the "
                f"file holds secrets) — run `{' '.join(command)}` where only you see it"
            )
        else:
            problems.append(f"{file.path}: {' / '.join(_complaint(result)[-3:])}")
    return problems


def _complaint(result: subprocess.CompletedProcess[str]) -> list[str]:
    """What the tool said was wrong: promtool says it on stderr; amtool on stdout
    (its stderr only says that something failed)."""
    failed = [line.strip() for line in result.stdout.splitlines() if "FAILED" in line]
    errors = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    return list(dict.fromkeys(failed + errors)) or ["failed, and said nothing"]
