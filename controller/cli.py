"""`meshkeeper`: the operator's command line. Thin: parse, call, print."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from controller import __version__
from controller.errors import InventoryError, MeshkeeperError

if TYPE_CHECKING:
    from controller.model.inventory import Inventory

F = TypeVar("F", bound=Callable[..., Any])

inventory_option = click.option(
    "--inventory",
    "-i",
    "inventory_path",
    type=click.Path(path_type=Path),
    default=None,
    envvar="MESHKEEPER_INVENTORY",
    show_envvar=True,
    help="Inventory directory or file (default: ./inventory).",
)

confirm_timeout_option = click.option(
    "--confirm-timeout",
    type=click.IntRange(20, 3600),
    default=60,
    show_default=True,
    help="Seconds a router waits for confirmation before rolling itself back.",
)


def reports_errors(func: F) -> F:
    """Operator errors become one line each and an exit code, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InventoryError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            click.echo(f"{len(exc.problems)} problem(s) in the inventory", err=True)
            sys.exit(exc.exit_code)
        except MeshkeeperError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="meshkeeper")
def cli() -> None:
    """meshkeeper: run a community mesh network of OpenWrt routers from one inventory."""


@cli.command()
@inventory_option
@click.option(
    "--no-secrets",
    is_flag=True,
    help="Do not resolve secret references (skips existence and key-length checks).",
)
@reports_errors
def check(inventory_path: Path | None, no_secrets: bool) -> None:
    """Validate the inventory; print every problem as FILE:LINE:COL: field: what — what to do."""
    from controller.model.load import load_inventory

    inv = load_inventory(inventory_path, resolve_secrets=not no_secrets)
    for warning in inv.warnings:
        click.echo(str(warning), err=True)
    click.echo(f"{inv.network.name}: {len(inv.nodes)} nodes, {len(inv.links)} links — ok")


@cli.group()
def inventory() -> None:
    """Look at the resolved inventory."""


@inventory.command("show")
@inventory_option
@click.argument("node", required=False)
@reports_errors
def inventory_show(inventory_path: Path | None, node: str | None) -> None:
    """The resolved view of NODE (all layers applied, addresses planned; no secret shown)."""
    from controller.model.load import load_inventory
    from controller.model.show import node_table, node_view

    inv = load_inventory(inventory_path)
    click.echo(node_view(inv, node) if node else node_table(inv), nl=False)


@cli.command()
@inventory_option
@click.option(
    "--node",
    "nodes",
    multiple=True,
    metavar="NAME",
    help="Render only this node (repeatable). Default: every node.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("build/config"),
    show_default=True,
    help="Directory to write DIR/<node>/etc/... into.",
)
@reports_errors
def render(inventory_path: Path | None, nodes: tuple[str, ...], output: Path) -> None:
    """Render each node's OpenWrt files: /etc/config/*, agent.json, authorized_keys."""
    from controller.model.load import load_inventory
    from controller.render.tree import render_inventory, write_tree

    inv = load_inventory(inventory_path, resolve_secrets=True)
    rendered = render_inventory(inv, nodes or None)
    changed = write_tree(output, rendered, prune=not nodes)
    files = sum(len(f) for f in rendered.values())
    click.echo(
        f"rendered {len(rendered)} node(s), {files} files into {output}/ — {len(changed)} changed"
    )


@cli.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
@reports_errors
def schema(output: Path | None) -> None:
    """Write the inventory's JSON Schema (for editors with a YAML language server)."""
    from controller.model.jsonschema import schema_text

    text = schema_text()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@cli.command()
@inventory_option
@click.option(
    "--node",
    "--limit",
    "limit",
    multiple=True,
    metavar="PATTERN",
    help="Only nodes matching this glob (repeatable).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Change no router: read each one (as `diff` does) and say what a push would "
    "change there. Exit 1 when any router would change or could not be checked.",
)
@click.option("--concurrency", type=click.IntRange(1, 100), default=10, show_default=True)
@confirm_timeout_option
@click.option(
    "--canary",
    type=click.IntRange(0),
    default=0,
    help="Push N nodes first; stop if any of them fails.",
)
@click.option(
    "--accept-new-host-keys",
    is_flag=True,
    help="Record the host key of routers contacted for the first time.",
)
@click.option("--json", "as_json", is_flag=True, help="Results as JSON.")
@reports_errors
def push(
    inventory_path: Path | None,
    limit: tuple[str, ...],
    dry_run: bool,
    concurrency: int,
    confirm_timeout: int,
    canary: int,
    accept_new_host_keys: bool,
    as_json: bool,
) -> None:
    """Push each changed node's config safely: stage, verify, back up, arm rollback,
    install, apply, check health over the new path, confirm. Deepest nodes first."""
    from controller.model.load import load_inventory
    from controller.push import report
    from controller.push.run import PushOptions
    from controller.push.run import push as run_push

    inv = load_inventory(inventory_path, resolve_secrets=True)
    for warning in inv.warnings:
        click.echo(str(warning), err=True)
    options = PushOptions(
        limit, dry_run, concurrency, confirm_timeout, canary, accept_new_host_keys
    )
    if dry_run:
        results = run_push(inv, options)
        click.echo(report.push_json(results) if as_json else report.dry_run_text(results), nl=False)
        if any(r.result != "unchanged" for r in results):
            sys.exit(1)
        return
    live = None if as_json else report.LiveProgress()
    results = run_push(
        inv, options, progress=live.step if live else None, on_result=live.done if live else None
    )
    click.echo(
        report.push_json(results) if as_json else "\n" + report.push_table(results), nl=False
    )
    if any(r.result in ("rolled_back", "unreachable", "failed", "skipped") for r in results):
        sys.exit(1)


@cli.command()
@inventory_option
@click.argument("node")
@click.option(
    "--via",
    required=True,
    metavar="ADDRESS",
    help="Where the router answers SSH now (a factory router: its LAN address).",
)
@click.option(
    "--via-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Its SSH port now (default: the node's ssh.port; a factory router has 22).",
)
@confirm_timeout_option
@click.option(
    "--accept-new-host-keys",
    is_flag=True,
    help="Record the router's host key on first contact (compare its fingerprint first).",
)
@click.option("--json", "as_json", is_flag=True, help="The result as JSON.")
@reports_errors
def adopt(
    inventory_path: Path | None,
    node: str,
    via: str,
    via_port: int | None,
    confirm_timeout: int,
    accept_new_host_keys: bool,
    as_json: bool,
) -> None:
    """Push NODE's config to a router reached at its current address (--via), then
    verify and confirm it at the address the inventory plans for it. A router that
    cannot be reached there restores its old config by itself."""
    import dataclasses
    import ipaddress

    from controller.model.load import load_inventory
    from controller.push import report
    from controller.push.plan import target_for
    from controller.push.run import PushOptions
    from controller.push.run import adopt as run_adopt

    try:
        address = str(ipaddress.ip_address(via))
    except ValueError:
        raise click.BadParameter(f"{via!r} is not an IP address", param_hint="--via") from None
    inv = load_inventory(inventory_path, resolve_secrets=True)
    if node not in inv.nodes:
        raise MeshkeeperError(
            f"no node {node!r} in the inventory — see `meshkeeper inventory show`"
        )
    planned = target_for(inv, node)
    target = dataclasses.replace(planned, host=address, port=via_port or planned.port)
    options = PushOptions(confirm_timeout=confirm_timeout, accept_new=accept_new_host_keys)
    live = None if as_json else report.LiveProgress()
    result = run_adopt(inv, node, target, options, progress=live.step if live else None)
    if live:
        live.done(result)
    click.echo(
        report.push_json([result]) if as_json else "\n" + report.push_table([result]), nl=False
    )
    if result.result not in ("applied", "unchanged"):
        sys.exit(1)


@cli.command()
@inventory_option
@click.option("--node", "--limit", "limit", multiple=True, metavar="PATTERN")
@click.option("--accept-new-host-keys", is_flag=True)
@reports_errors
def diff(inventory_path: Path | None, limit: tuple[str, ...], accept_new_host_keys: bool) -> None:
    """What a push would change on each router (secrets redacted). Exit 1 when any
    differs (comment-only edits too: a push rewrites them) or cannot be read."""
    from controller.model.load import load_inventory
    from controller.push import report
    from controller.push.fetch import fetch_diffs

    inv = load_inventory(inventory_path, resolve_secrets=True)
    _reconcile(inv)
    diffs, errors = fetch_diffs(inv, limit, accept_new=accept_new_host_keys)
    click.echo(report.diff_text(diffs, errors), nl=False)
    if errors or any(not d.in_sync for d in diffs):
        sys.exit(1)


@cli.command()
@inventory_option
@click.option("--json", "as_json", is_flag=True, help="The rows as JSON.")
@click.option(
    "--prometheus",
    "prometheus",
    metavar="URL",
    is_flag=False,
    flag_value="",
    default=None,
    help="Read the live view from Prometheus (alone: the NOC's, from the inventory).",
)
@click.option(
    "--offline", is_flag=True, help="Push state only: ask no router, agent or Prometheus."
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.5, 60),
    default=5.0,
    show_default=True,
    help="Seconds each agent (or Prometheus) has to answer.",
)
@reports_errors
def status(
    inventory_path: Path | None,
    as_json: bool,
    prometheus: str | None,
    offline: bool,
    timeout: float,
) -> None:
    """The fleet: each router's push state beside what it says now (agent answering,
    config in sync, expected links up, shutdown verdict).

    By default the agents are asked directly (no Prometheus needed: run it
    where the NOC is; in the lab `meshkeeper lab exec noc -- ...`); with
    --prometheus, the NOC's Prometheus is. Exit 1 when a router needs a look:
    its agent down, a link down, its config not the one pushed, a failed push
    or a verdict other than ok.
    """
    import sqlite3

    from controller.model.load import load_inventory
    from controller.noc import fleet, targets
    from controller.noc.exporter import read_states
    from controller.noc.fleet_table import fleet_table
    from controller.push.run import state_dir

    inv = load_inventory(inventory_path)
    if not offline:
        _reconcile(inv)  # a push the controller never finished: ask those routers
    db = state_dir(inv) / "state.db"
    try:
        states = read_states(db)  # read-only: a NOC user may look without writing
    except sqlite3.Error as exc:
        raise MeshkeeperError(f"cannot read {db}: {exc} — check its permissions") from exc
    live = None
    if prometheus is not None and not offline:
        noc = inv.noc
        url = prometheus or f"http://{noc.address}:{noc.prometheus.port}"
        live = fleet.live_from_prometheus(url, timeout, network=inv.network.name)
    elif not offline:
        live = fleet.live_from_agents(targets.agent_targets(inv), timeout)
    if live is not None:
        for name, node in inv.nodes.items():
            if not node.agent.enabled:
                live.setdefault(name, fleet.Live(agent=fleet.NO_AGENT))
    roles = {name: node.role for name, node in inv.nodes.items()}
    rows = fleet.fleet(roles, states, live)
    click.echo(fleet.fleet_json(rows) if as_json else fleet_table(rows), nl=False)
    if fleet.failing(rows):
        sys.exit(1)


def _reconcile(inv: Inventory) -> None:
    """A push the controller never finished: ask those routers what they hold."""
    from controller.push.plan import target_for
    from controller.push.reconcile import reconcile_applying
    from controller.push.run import state_dir
    from controller.push.state import StateStore
    from controller.transport import KnownHosts

    folder = state_dir(inv)
    if not (folder / "state.db").exists():
        return
    with StateStore(folder / "state.db") as store:
        targets = {name: target_for(inv, name) for name in inv.nodes}
        reconcile_applying(store, targets, KnownHosts(folder / "known_hosts"))


@cli.group()
def monitoring() -> None:
    """What the NOC's Prometheus scrapes."""


@monitoring.command("targets")
@inventory_option
@click.option("--file-sd", is_flag=True, help="Prometheus file_sd JSON instead of lines.")
@reports_errors
def monitoring_targets(inventory_path: Path | None, file_sd: bool) -> None:
    """One HOST:PORT line per node's agent (the address a scraper in the NOC uses)."""
    from controller.model.load import load_inventory
    from controller.noc import targets

    inv = load_inventory(inventory_path, resolve_secrets=False)
    found = targets.agent_targets(inv)
    if file_sd:
        click.echo(targets.file_sd(found, inv.network.name), nl=False)
    else:
        click.echo("".join(f"{t.host_port}\n" for t in found), nl=False)


@monitoring.command("render")
@inventory_option
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("build/monitoring"),
    show_default=True,
    help="Directory for prometheus.yml, alertmanager.yml, targets/, rules/ (its own).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Then run promtool check config and amtool check-config on what was written.",
)
@reports_errors
def monitoring_render(inventory_path: Path | None, output: Path, check: bool) -> None:
    """The NOC's Prometheus and Alertmanager configs, targets and alert rules.

    Copy DIR to the NOC and point Prometheus at DIR/prometheus.yml and
    Alertmanager at DIR/alertmanager.yml (0600: it holds the webhook URLs);
    with noc.segments, each segment's Prometheus at DIR/segments/NAME/prometheus.yml.
    """
    from controller.model.load import load_inventory
    from controller.noc import config
    from controller.render.output import write_files

    inv = load_inventory(inventory_path, resolve_secrets=True)
    files = config.render_monitoring(inv)
    changed = write_files(output, files)
    click.echo(f"{len(files)} files in {output} ({len(changed)} changed)")
    if check:
        problems = config.check_rendered(output, files)
        for problem in problems:
            click.echo(problem, err=True)
        if problems:
            sys.exit(1)
        click.echo("promtool check config and amtool check-config: ok")


@monitoring.command("exporter")
@inventory_option
@click.option(
    "--listen",
    metavar="ADDRESS:PORT",
    help="Where to answer (default: the NOC's address and noc.exporter.port).",
)
@reports_errors
def monitoring_exporter(inventory_path: Path | None, listen: str | None) -> None:
    """Serve the push state (state.db) as metrics for the NOC's Prometheus."""
    from controller.model.load import load_inventory
    from controller.noc.exporter import make_server
    from controller.push.run import state_dir

    inv = load_inventory(inventory_path, resolve_secrets=False)
    host, port = str(inv.noc.address), inv.noc.exporter.port
    if listen:
        host, _, text = listen.rpartition(":")
        if not host or not text.isdigit() or not 0 < int(text) < 65536:
            raise click.BadParameter(
                "give ADDRESS:PORT, e.g. 127.0.0.1:9111", param_hint="--listen"
            )
        port = int(text)
    try:
        server = make_server(state_dir(inv) / "state.db", host, port)
    except OSError as exc:
        raise MeshkeeperError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} — is the address this "
            "machine's, and the port free? (--listen ADDRESS:PORT)"
        ) from exc
    click.echo(f"serving push state on http://{host}:{port}/metrics")
    with server:
        server.serve_forever()


@monitoring.command("scrape")
@inventory_option
@click.option(
    "--timeout",
    type=click.FloatRange(0.5, 30),
    default=5.0,
    show_default=True,
    help="Seconds each agent has for its whole answer (parsing included).",
)
@reports_errors
def monitoring_scrape(inventory_path: Path | None, timeout: float) -> None:
    """Ask every agent once: answering? config generation? expected links down?

    Run it where the NOC is (in the lab: `meshkeeper lab exec noc -- ...`).
    Exit 1 when an agent does not answer, answers what no meshkeeper agent
    would (one line each, escaped), or sees an expected link down. TLS
    agents are read without checking certificates (a look, not a record);
    agents behind a password only show that they answer.
    """
    from controller.model.load import load_inventory
    from controller.noc import scrape, targets

    inv = load_inventory(inventory_path, resolve_secrets=False)
    views = scrape.scrape_all(targets.agent_targets(inv), timeout)
    click.echo(scrape.summary_table(views), nl=False)
    if any(v.failing for v in views):
        sys.exit(1)


@cli.command()
@inventory_option
@click.option("--json", "as_json", is_flag=True, help="The alerts as JSON.")
@click.option(
    "--alertmanager",
    metavar="URL",
    help="Alertmanager's URL (default: the NOC's address and noc.alertmanager.port).",
)
@click.option(
    "--prometheus",
    metavar="URL",
    help="Asked when Alertmanager cannot be (default: the NOC's Prometheus).",
)
@click.option("--timeout", type=click.FloatRange(0.5, 60), default=10.0, show_default=True)
@reports_errors
def alerts(
    inventory_path: Path | None,
    as_json: bool,
    alertmanager: str | None,
    prometheus: str | None,
    timeout: float,
) -> None:
    """Active alerts, most severe first, with since when and the evidence.

    Asks Alertmanager (API v2), or Prometheus when Alertmanager cannot be
    reached. Run it where the NOC is (in the lab: `meshkeeper lab exec noc --
    ...`). Exit 0: nothing critical firing; 1: something critical is firing;
    4: neither Alertmanager nor Prometheus answered.
    """
    import time

    from controller.model.load import load_inventory
    from controller.noc import alerts as noc_alerts

    inv = load_inventory(inventory_path, resolve_secrets=False)
    noc = inv.noc
    view = noc_alerts.fetch_alerts(
        alertmanager or f"http://{noc.address}:{noc.alertmanager.port}",
        prometheus or f"http://{noc.address}:{noc.prometheus.port}",
        timeout,
    )
    now = time.time()
    text = noc_alerts.alerts_json(view, now) if as_json else noc_alerts.alerts_text(view, now)
    click.echo(text, nl=not text.endswith("\n"))
    sys.exit(noc_alerts.exit_status(view))


@cli.command()
@inventory_option
@click.option("--node", "nodes", multiple=True, metavar="NAME", help="Only these routers.")
@click.option("--since", type=float, metavar="UNIX_TIME", help="Rounds from this time on.")
@click.option("--until", type=float, metavar="UNIX_TIME", help="Rounds up to this time.")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for each router's OpenMetrics and the TSDB blocks (DIR/blocks).",
)
@click.option("--accept-new-host-keys", is_flag=True)
@reports_errors
def backfill(
    inventory_path: Path | None,
    nodes: tuple[str, ...],
    since: float | None,
    until: float | None,
    output: Path,
    accept_new_host_keys: bool,
) -> None:
    """Fetch each router's journal over SSH and make Prometheus blocks of it, so the
    NOC's history has no hole where it could not scrape (a shutdown, a cut link).

    Move DIR/blocks/* into Prometheus's data directory (storage.tsdb.path):
    Prometheus picks them up at its next block reload (within a minute, or at
    restart). Exit 1 when a router's journal could not be read.
    """
    from controller.model.load import load_inventory
    from controller.noc import backfill as fill
    from controller.push.run import state_dir
    from controller.transport import KnownHosts

    inv = load_inventory(inventory_path, resolve_secrets=True)
    unknown = [n for n in nodes if n not in inv.nodes]
    if unknown:
        raise click.UsageError(f"no router {unknown[0]!r} in the inventory")
    command = fill.export_command(since, until)
    known = KnownHosts(state_dir(inv) / "known_hosts")
    journals = fill.fetch_all(
        inv, nodes or inv.nodes, known, command, accept_new=accept_new_host_keys
    )
    blocks = fill.create_blocks(journals, output)
    for journal in journals:
        said = journal.error or f"{journal.samples} samples"
        click.echo(f"{journal.node:<20} {said}")
    click.echo(f"blocks in {blocks}: move them into Prometheus's data directory")
    if any(j.error for j in journals):
        sys.exit(1)


def _add_lab() -> None:
    from lab.cli import lab  # the lab is optional at import: the agent host never needs it

    cli.add_command(lab)


def main() -> None:
    _add_lab()
    try:
        cli.main(prog_name="meshkeeper")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("MESHKEEPER_DEBUG"):
            raise
        click.echo(
            f"internal error: {type(exc).__name__}: {exc} — this is a meshkeeper bug; "
            "rerun with MESHKEEPER_DEBUG=1 and report it",
            err=True,
        )
        sys.exit(70)
