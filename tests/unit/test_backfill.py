"""`meshkeeper backfill`'s controller side: an agent's journal export, checked, labelled
with the router's name, and made into real TSDB blocks by promtool."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from agent import contract
from agent.journal import Journal, export_openmetrics
from agent.probes.base import Result
from controller.noc.backfill import NodeJournal, create_blocks, export_command, relabel


def journal_text(tmp_path: Path, rounds: int = 5) -> str:
    journal = Journal(tmp_path / "journal", flush_every=0)
    start = time.time() - 3600
    for n in range(rounds):
        results = [Result("international", "intl-web", "icmp", "wan", n < 2, 0.01)]
        cut = [] if n < 2 else [{"class": "international_shutdown", "uplink": "wan"}]
        journal.record_round(results, cut, timestamp=start + 60 * n)
    journal.flush()
    out = io.StringIO()
    export_openmetrics(journal.read(), out)
    return out.getvalue()


def test_every_series_gets_the_router_s_name_and_the_agents_job(tmp_path: Path) -> None:
    text, samples = relabel("gw-market", journal_text(tmp_path))
    assert samples > 0
    series = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(series) == samples
    assert all('job="meshkeeper-agent"' in line and 'node="gw-market"' in line for line in series)
    assert any(
        line.startswith(f"{contract.M_VERDICT}{{") and 'class="international_shutdown"' in line
        for line in series
    )
    assert text.endswith("# EOF\n")


def test_the_blocks_are_made_by_promtool_and_hold_the_cut(tmp_path: Path) -> None:
    assert shutil.which("promtool"), "promtool is missing: debian-packages.txt installs prometheus"
    text, samples = relabel("gw-market", journal_text(tmp_path))
    blocks = create_blocks([NodeJournal("gw-market", text, samples)], tmp_path / "out")
    metas = list(blocks.glob("*/meta.json"))
    assert metas, "no block written"
    total = sum(json.loads(m.read_text())["stats"]["numSamples"] for m in metas)
    assert total == samples
    db = tmp_path / "db"  # a read-only open needs a data directory with a WAL
    shutil.copytree(blocks, db)
    (db / "wal").mkdir(exist_ok=True)
    dump = subprocess.run(
        ["promtool", "tsdb", "dump", str(db)], capture_output=True, text=True, check=True
    )
    assert 'class="international_shutdown"' in dump.stdout and 'node="gw-market"' in dump.stdout


def test_a_hostile_export_is_refused_or_tamed() -> None:
    with pytest.raises(ValueError):
        relabel("x", "this is not openmetrics\n")
    other = (
        "# TYPE evil_metric gauge\nevil_metric 1 100.0\n"
        f"# TYPE {contract.M_VERDICT} gauge\n"
        f'{contract.M_VERDICT}{{class="a\\"}} 0\\n{{",node="spoof"}} 1 100.0\n# EOF\n'
    )
    text, samples = relabel("leaf", other)
    assert samples == 1
    assert "evil_metric" not in text
    line = next(line for line in text.splitlines() if line.startswith(contract.M_VERDICT))
    assert 'node="leaf"' in line and 'node="spoof"' not in line
    assert '\\"' in line and "\n" not in line


def test_untimestamped_samples_are_not_backfilled() -> None:
    text, samples = relabel(
        "x", f"# TYPE {contract.M_VERDICT} gauge\n{contract.M_VERDICT} 1\n# EOF\n"
    )
    assert (text, samples) == ("", 0)


def test_the_command_carries_only_numbers_this_code_formats() -> None:
    assert export_command(None, None) == "meshkeeper-agent journal export"
    assert export_command(1700000000.7, 1700003600) == (
        "meshkeeper-agent journal export --since 1700000000 --until 1700003600"
    )


def test_an_unusable_output_directory_is_one_clear_error(tmp_path: Path) -> None:
    from controller.noc.backfill import BackfillError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    text, samples = relabel("gw-market", journal_text(tmp_path))
    with pytest.raises(BackfillError, match=r"cannot write .*file.*: Not a directory — pass -o"):
        create_blocks([NodeJournal("gw-market", text, samples)], blocker)
