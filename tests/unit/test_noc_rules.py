"""The NOC's alert rules: monitoring/rules/*.yml and their promtool tests in
monitoring/tests/*.yml, rendered by controller/noc/rules.py, checked and run by
the real promtool (Debian's prometheus package)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent import contract
from controller.errors import MeshkeeperError
from controller.noc import rules
from controller.noc.rules import DEFAULT_TIMING, Timing, render_rules, render_template, render_tests

PROMTOOL = Path("/usr/bin/promtool")
SEVERITIES = {"critical", "warning", "info"}
CATEGORIES = {"shutdown", "node", "link", "push", "noc"}
SCOPES = {"fleet", "router", "uplink", "link"}
# The alerts issue 15 asks for: their category and the scopes they may take.
ISSUE_ALERTS = {
    "NocCutOff": ("noc", {"fleet"}),
    "AgentDown": ("node", {"router"}),
    "ShutdownSuspected": ("shutdown", {"fleet"}),
    "LinkLost": ("link", {"link"}),
    "LinkDegraded": ("link", {"link"}),
    "UplinkLost": ("link", {"uplink"}),
    "ISPOutage": ("shutdown", {"uplink", "fleet"}),
    "InternationalShutdown": ("shutdown", {"fleet"}),
    "NationalShutdown": ("shutdown", {"fleet"}),
    "DNSTampering": ("shutdown", {"router", "fleet"}),
    "PlatformBlocked": ("shutdown", {"router", "fleet"}),
    "Throttling": ("shutdown", {"router", "fleet"}),
    "ConfigRolledBack": ("push", {"router"}),
    "ConfigDrift": ("push", {"router"}),
    "ConfigPendingTooLong": ("push", {"router"}),
}


def write(root: Path, timing: Timing) -> Path:
    for folder, files in (("rules", render_rules(timing)), ("tests", render_tests())):
        (root / folder).mkdir()
        for name, text in files.items():
            (root / folder / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("monitoring"), DEFAULT_TIMING)


def promtool(cwd: Path, *args: str) -> str:
    assert PROMTOOL.exists(), "promtool is missing: debian-packages.txt installs prometheus"
    done = subprocess.run(
        [str(PROMTOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"promtool {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def names(folder: Path) -> list[str]:
    found = sorted(f"{folder.name}/{path.name}" for path in folder.glob("*.yml"))
    assert found, f"nothing rendered in {folder}"
    return found


def alerts(root: Path) -> Iterator[dict[str, Any]]:
    for path in sorted((root / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            yield from (rule for rule in group["rules"] if "alert" in rule)


def cases(root: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(alertname, exp_alerts) of every promtool test case."""
    for path in sorted((root / "tests").glob("*.yml")):
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for case in test.get("alert_rule_test", []):
                yield case["alertname"], case.get("exp_alerts") or []


# -- promtool ------------------------------------------------------------------------


def test_promtool_accepts_the_rendered_rules(rendered: Path) -> None:
    said = promtool(rendered, "check", "rules", *names(rendered / "rules"))
    assert "SUCCESS" in said


def test_the_promtool_tests_pass(rendered: Path) -> None:
    said = promtool(rendered, "test", "rules", *names(rendered / "tests"))
    assert "SUCCESS" in said


def test_the_rules_follow_the_timing_they_are_rendered_with(tmp_path: Path) -> None:
    root = write(tmp_path, Timing(round_seconds=7, scrape_seconds=3, collect_seconds=11))
    promtool(root, "check", "rules", *names(root / "rules"))
    for path in sorted((root / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            assert group["interval"] == "3s", f"{path.name} {group['name']}"
    fors = {rule["alert"]: rule.get("for") for rule in alerts(root)}
    assert fors["AgentDown"] == "9s"  # three scrapes
    assert fors["UplinkLost"] == "14s"  # two rounds
    assert fors["LinkLost"] == "33s"  # three collector runs: a link's echoes change no faster


# -- what the rules say ----------------------------------------------------------------


def test_every_alert_of_the_issue_exists_with_its_labels_and_annotations(
    rendered: Path,
) -> None:
    found = list(alerts(rendered))
    assert set(ISSUE_ALERTS) <= {rule["alert"] for rule in found}
    for rule in found:
        name, labels, notes = rule["alert"], rule["labels"], rule["annotations"]
        assert labels["severity"] in SEVERITIES, name
        assert labels["category"] in CATEGORIES, name
        assert labels["scope"] in SCOPES, name
        if name in ISSUE_ALERTS:
            category, scopes = ISSUE_ALERTS[name]
            assert labels["category"] == category, name
            assert labels["scope"] in scopes, name
        assert notes["summary"].strip() and "\n" not in notes["summary"].strip(), name
        assert notes["description"].strip(), name


def test_an_alert_with_two_rules_has_two_severities(rendered: Path) -> None:
    seen: dict[str, list[str]] = {}
    for rule in alerts(rendered):
        seen.setdefault(rule["alert"], []).append(rule["labels"]["severity"])
    assert seen["InternationalShutdown"] == ["critical", "warning"]
    for name, severities in seen.items():
        assert len(severities) == len(set(severities)), name


def test_every_alert_has_a_test_where_it_fires_and_one_where_it_must_not(
    rendered: Path,
) -> None:
    fired = {
        (name, expected["exp_labels"]["severity"])
        for name, exp_alerts in cases(rendered)
        for expected in exp_alerts
    }
    silent = {name for name, exp_alerts in cases(rendered) if not exp_alerts}
    written = {(rule["alert"], rule["labels"]["severity"]) for rule in alerts(rendered)}
    assert sorted(written - fired) == [], "write a promtool test where these fire"
    assert sorted({name for name, _ in written} - silent) == [], "and one where they must not"


def test_the_fleet_shutdown_tests_check_the_evidence_text(rendered: Path) -> None:
    fleet = {"ShutdownSuspected", "InternationalShutdown", "NationalShutdown", "ISPOutage"}
    checked = {
        name
        for name, exp_alerts in cases(rendered)
        for expected in exp_alerts
        if name in fleet and expected.get("exp_annotations", {}).get("description")
    }
    assert checked == fleet


# -- render_template ---------------------------------------------------------------------


def test_contract_names_are_substituted() -> None:
    text = 'expr: @M_VERDICT@{job="@JOB_AGENTS@"} == 1 or @M_PROBE_FAILURES@_total\n'
    assert render_template(text, DEFAULT_TIMING, "t.yml") == (
        f'expr: {contract.M_VERDICT}{{job="{contract.JOB_AGENTS}"}} == 1'
        f" or {contract.M_PROBE_FAILURES}_total\n"
    )


@pytest.mark.parametrize(
    ("text", "timing", "expected"),
    [
        ("for: @ROUNDS:3@", Timing(), "for: 180s"),
        ("for: @SCRAPES:3@", Timing(), "for: 45s"),
        ("for: @COLLECTS:2@", Timing(collect_seconds=20), "for: 40s"),
        ("for: @ROUNDS:1@", Timing(round_seconds=5, scrape_seconds=5), "for: 5s"),
        ("interval: @SCRAPES:20@", Timing(round_seconds=5, scrape_seconds=2), "interval: 40s"),
    ],
)
def test_timing_placeholders_are_durations(text: str, timing: Timing, expected: str) -> None:
    assert render_template(text, timing, "t.yml") == expected


def test_other_at_signs_are_left_alone() -> None:
    text = "# mail noc@example.org; x @ start()\n"
    assert render_template(text, DEFAULT_TIMING, "t.yml") == text


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("expr: @M_NO_SUCH@ == 1", "@M_NO_SUCH@ names nothing"),
        ("expr: @password_hash@", "@password_hash@ names nothing"),
        ("expr: @VERDICT_CLASSES@", "@VERDICT_CLASSES@ is not a string"),
        ("for: @ROUNDS:0@", "@ROUNDS:0@ names nothing"),
        ("for: @MINUTES:3@", "@MINUTES:3@ names nothing"),
        ("expr: @M_VERDICT == 1", "an unclosed placeholder at '@M_VERDICT == 1'"),
        ("for: @@", "@@ names nothing"),
    ],
)
def test_a_placeholder_that_names_nothing_is_an_error_at_its_line(line: str, said: str) -> None:
    text = f"groups:\n  # fine: @JOB_AGENTS@\n{line}\n"
    with pytest.raises(MeshkeeperError) as caught:
        render_template(text, DEFAULT_TIMING, "monitoring/rules/x.yml")
    message = str(caught.value)
    assert message.startswith("monitoring/rules/x.yml:3: ")
    assert said in message
    assert "agent/contract.py" in message  # what to do


def test_timing_must_be_whole_seconds() -> None:
    with pytest.raises(MeshkeeperError, match=r"probes\.interval"):
        Timing(round_seconds=0)


def test_no_templates_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "RULES_DIR", tmp_path)
    with pytest.raises(MeshkeeperError, match="no alert rule templates"):
        render_rules()
