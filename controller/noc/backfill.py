"""`meshkeeper backfill`: the routers' journals into Prometheus blocks, so a cut leaves no hole.

While the NOC cannot scrape (the shutdown itself, a cut mesh link, the NOC
down), every agent keeps journalling its probe rounds and verdicts on flash
(agent/journal.py). Afterwards this command logs in to each router (the same
SSH, host keys and login as push), runs the one fixed command
`meshkeeper-agent journal export --since T`, checks the OpenMetrics it gets
back, labels every series with the router's name as the NOC's scrape would,
and has promtool (`tsdb create-blocks-from openmetrics`) turn it into TSDB
blocks. Moved into Prometheus's data directory, they fill the hole.

An agent's answer is read as hostile: at most MAX_EXPORT bytes, parsed by
prometheus_client's OpenMetrics parser, only the contract's metric names
kept, every label value re-escaped; nothing it says reaches a shell.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from agent import contract
from controller.errors import MeshkeeperError
from controller.model.inventory import Inventory
from controller.push.plan import target_for
from controller.push.report import shown
from controller.transport import KnownHosts, TransportError, connect

# A full journal (512 KiB of deltas) expands to about 10,000 rounds of ~30 series:
# some 30 MB of OpenMetrics.
MAX_EXPORT = 64 * 1024 * 1024
JOURNALLED = (contract.M_PROBE_SUCCESS, contract.M_PROBE_DURATION, contract.M_VERDICT)
JOB = contract.AGENT_PROGRAM  # the job label the NOC's scrape gives agents
EXPORT = " ".join((contract.AGENT_PROGRAM, *contract.JOURNAL_EXPORT))


class BackfillError(MeshkeeperError):
    """promtool is missing or refused the blocks."""


@dataclass(frozen=True)
class NodeJournal:
    node: str
    text: str = ""  # OpenMetrics, labelled with the node; empty when there was nothing
    samples: int = 0
    error: str = ""  # why there is no journal from this router


def export_command(since: float | None, until: float | None) -> str:
    """The fixed command: only numbers this code formats follow the subcommand."""
    args = [EXPORT]
    if since is not None:
        args.append(f"--since {int(since)}")
    if until is not None:
        args.append(f"--until {int(until)}")
    return " ".join(args)


def relabel(node: str, text: str) -> tuple[str, int]:
    """The agent's export, checked and re-written with `node` and `job` labels on every
    series (what the NOC's scrape adds). ValueError when it is not OpenMetrics."""
    if len(text) > MAX_EXPORT:
        raise ValueError(f"the export is larger than {MAX_EXPORT // 2**20} MiB")
    lines: list[str] = []
    count = 0
    for family in text_string_to_metric_families(text):  # type: ignore[no-untyped-call]
        if family.name not in JOURNALLED:
            continue
        lines.append(f"# HELP {family.name} {_escape(family.documentation)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for sample in family.samples:
            if sample.timestamp is None or not math.isfinite(sample.value):
                continue
            labels = {**sample.labels, "node": node, "job": JOB}
            body = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            lines.append(f"{sample.name}{{{body}}} {sample.value!r} {float(sample.timestamp)!r}")
            count += 1
    return ("\n".join([*lines, "# EOF"]) + "\n" if count else ""), count


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def fetch(
    inv: Inventory,
    node: str,
    known_hosts: KnownHosts,
    command: str,
    *,
    accept_new: bool = False,
) -> NodeJournal:
    try:
        with connect(target_for(inv, node), known_hosts, accept_new=accept_new) as ssh:
            answer = ssh.run(command, timeout=120)
    except TransportError as exc:
        return NodeJournal(node, error=shown(str(exc).removeprefix(f"node {node}: "), 200))
    if answer.exit_status != 0:
        said = answer.stderr.decode(errors="replace").strip()[-200:]
        return NodeJournal(node, error=f"the export failed ({answer.exit_status}): {shown(said)}")
    try:
        text, samples = relabel(node, answer.stdout.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return NodeJournal(node, error=f"not a journal export: {shown(str(exc), 200)}")
    return NodeJournal(node, text, samples)


def fetch_all(
    inv: Inventory,
    nodes: Iterable[str],
    known_hosts: KnownHosts,
    command: str,
    *,
    accept_new: bool = False,
) -> list[NodeJournal]:
    names = sorted(nodes)
    with ThreadPoolExecutor(max_workers=min(8, max(len(names), 1))) as pool:
        return list(
            pool.map(lambda n: fetch(inv, n, known_hosts, command, accept_new=accept_new), names)
        )


def create_blocks(journals: list[NodeJournal], out: Path, promtool: str = "promtool") -> Path:
    """One OpenMetrics file per router in `out`, and their TSDB blocks in out/blocks."""
    blocks = out / "blocks"
    for journal in journals:
        if not journal.text:
            continue
        source = out / f"{journal.node}.om"
        try:
            blocks.mkdir(parents=True, exist_ok=True)
            source.write_text(journal.text, encoding="utf-8")
        except OSError as exc:
            raise BackfillError(
                f"cannot write {exc.filename or source}: {exc.strerror or exc} — pass -o a "
                "directory you can write"
            ) from None
        try:
            result = subprocess.run(  # noqa: S603 - argv list; node names are hostnames
                [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(blocks)],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        except FileNotFoundError:
            raise BackfillError(
                f"{promtool} is missing — install the Debian package prometheus"
            ) from None
        if result.returncode != 0:
            raise BackfillError(
                f"promtool refused {source}: {shown(result.stderr.strip()[-300:], 300)}"
            )
    return blocks
