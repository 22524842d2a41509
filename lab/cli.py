"""`meshkeeper lab ...`: the practice lab's commands (root)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from controller.cli import inventory_option, reports_errors
from lab.host import LabError, mount_handle, nsenter, require_root
from lab.paths import LabPaths
from lab.plan import NOC_NS, lab_plan


def _inventory(path: Path | None):  # type: ignore[no-untyped-def]
    from controller.model.load import load_inventory

    return load_inventory(path, resolve_secrets=True)


@click.group()
def lab() -> None:
    """The practice lab: the inventory's network in Linux network namespaces (root)."""


DEFAULT_WAIT = 120


@lab.command()
@inventory_option
@click.option(
    "--wait",
    "wait_seconds",
    type=click.IntRange(1),
    default=DEFAULT_WAIT,
    show_default=True,
    metavar="SECONDS",
    help="Wait at most this long until the NOC reaches every router (babel converged).",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Return as soon as the lab is built, before babel has converged.",
)
@reports_errors
def up(inventory_path: Path | None, wait_seconds: int, no_wait: bool) -> None:
    """Build the lab (idempotent: builds whatever is missing), then wait until the NOC
    reaches every router, so a push right after finds them all."""
    from lab.build import up as build_up
    from lab.build import wait_reachable

    inv = _inventory(inventory_path)
    start = time.perf_counter()
    plan = build_up(inv)
    if not no_wait:
        converged = wait_reachable(inv, wait_seconds)
        click.echo(f"every router reachable from the NOC {converged:.1f} s after the build")
    click.echo(
        f"lab up: {len(plan.nodes)} routers, {len(plan.isps)} ISPs, exchange, internet, "
        f"NOC — {time.perf_counter() - start:.1f} s"
    )


@lab.command()
@inventory_option
@reports_errors
def keys(inventory_path: Path | None) -> None:
    """Make the controller's SSH keys the example network logs in with, if missing
    (.meshkeeper/lab/controller_ed25519 and controller_rsa, beside the inventory)."""
    from controller.model.load import default_path

    root = inventory_path or default_path()
    paths = LabPaths.for_inventory(root if root.is_dir() else root.parent)
    made = paths.make_controller_keys()
    for key in made:
        click.echo(f"made {key} and {key}.pub")
    if not made:
        click.echo(f"the lab's controller keys already exist in {paths.root}")


@lab.command()
@inventory_option
@reports_errors
def down(inventory_path: Path | None) -> None:
    """Remove every namespace, process, mount and file the lab made."""
    from controller.model.load import default_path
    from lab.build import down as build_down

    root = inventory_path or default_path()
    start = time.perf_counter()
    removed = build_down(LabPaths.for_inventory(root if root.is_dir() else root.parent))
    click.echo(
        f"lab down: removed {len(removed)} namespaces and mounts — "
        f"{time.perf_counter() - start:.1f} s"
    )


@lab.command()
@inventory_option
@reports_errors
def status(inventory_path: Path | None) -> None:
    """A table: node, namespace, sshd, babeld, agent, links up; then the NOC's services."""
    from lab.noc import status_lines
    from lab.status import router_status, status_table

    require_root()
    inv = _inventory(inventory_path)
    paths = LabPaths.for_inventory(inv.root)
    click.echo(status_table(router_status(lab_plan(inv), paths)), nl=False)
    click.echo("\n".join(status_lines(inv, paths)))


@lab.command("exec", context_settings={"ignore_unknown_options": True})
@inventory_option
@click.argument("where")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@reports_errors
def exec_(inventory_path: Path | None, where: str, command: tuple[str, ...]) -> None:
    """Run COMMAND in router WHERE (or `noc`), keeping the working directory and environment."""
    require_root()
    plan = lab_plan(_inventory(inventory_path))
    cwd = str(Path.cwd())
    if where == "noc":
        argv = nsenter(NOC_NS, None, list(command), workdir=cwd)
    elif where in plan.nodes:
        node = plan.nodes[where]
        argv = nsenter(node.namespace, mount_handle(where), list(command), workdir=cwd)
    else:
        raise LabError(f"no router {where!r} — use `noc` or one of: {', '.join(plan.nodes)}")
    sys.stdout.flush()
    os.execvp(argv[0], argv)  # noqa: S606 - argv list, no shell


@lab.command(context_settings={"ignore_unknown_options": True})
@inventory_option
@click.argument("kind")
@click.argument("args", nargs=-1)
@reports_errors
def fault(inventory_path: Path | None, kind: str, args: tuple[str, ...]) -> None:
    """Inject a fault: node-down NODE, link-down A B, link-loss A B PCT, isp-down ISP,
    international-cut [ISP|all], national-cut, throttle TARGET KBIT,
    dns-tamper [NAME...] [lie|nxdomain|bogon|inject] [at=ISP|at=international],
    platform-block PLATFORM [LAYER]."""
    from lab.faults import inject

    require_root()
    inv = _inventory(inventory_path)
    done = inject(inv, lab_plan(inv), LabPaths.for_inventory(inv.root), kind, list(args))
    click.echo(f"fault: {done.kind} {' '.join(done.args)}".rstrip())


@lab.command()
@inventory_option
@click.argument("kind", required=False)
@reports_errors
def heal(inventory_path: Path | None, kind: str | None) -> None:
    """Undo every fault (or only those of KIND)."""
    from lab.faults import heal as do_heal

    require_root()
    inv = _inventory(inventory_path)
    healed = do_heal(inv, lab_plan(inv), LabPaths.for_inventory(inv.root), kind)
    click.echo(f"healed {len(healed)} fault(s)")
