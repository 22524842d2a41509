"""lab.shim.apply and lab.shim.procd: reload_config returns at once and the services
follow PROCD_RELOAD_DELAY later, in a process of their own, as procd runs them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.shim import apply, config, procd
from lab.shim.labinfo import LabInfo

LAB = LabInfo(node="x", wifi=(), wired=())


@pytest.mark.parametrize(
    ("changed", "services"),
    [
        ({"network"}, ["network", "babeld", "dropbear"]),
        ({"firewall"}, ["network"]),  # network and firewall go together
        ({"babeld"}, ["babeld"]),
        ({"dropbear"}, ["dropbear"]),
        ({"wireless"}, []),  # `wifi reload` applies radios, not reload_config
        ({"system"}, []),
        ({"dropbear", "firewall"}, ["network", "dropbear"]),
    ],
)
def test_triggered_services(changed: set[str], services: list[str]) -> None:
    assert apply.triggered(changed) == services


@pytest.fixture
def router(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    """A router's /etc/config and /tmp/config.md5 in tmp_path; scheduled triggers recorded."""
    etc = tmp_path / "config"
    etc.mkdir()
    monkeypatch.setattr(config, "CONFIG", etc)
    monkeypatch.setattr(apply, "CONFIG", etc)
    monkeypatch.setattr(apply, "DIGESTS", tmp_path / "config.md5")
    scheduled: list[tuple[str, float]] = []

    def later(
        work: Callable[[], object], what: str, delay: float = procd.PROCD_RELOAD_DELAY
    ) -> None:
        del work
        scheduled.append((what, delay))

    monkeypatch.setattr(procd, "later", later)
    return scheduled


def test_reload_config_schedules_only_what_changed(
    router: list[tuple[str, float]], capsys: pytest.CaptureFixture[str]
) -> None:
    etc = config.CONFIG
    assert apply.reload_config(LAB) == 0  # no digests yet: only recorded, as on OpenWrt
    assert router == []
    (etc / "dropbear").write_text("config dropbear\n\toption Port '22'\n")
    (etc / "system").write_text("config system\n")
    assert apply.reload_config(LAB) == 0
    assert router == [("dropbear", 1.0)]
    assert apply.reload_config(LAB) == 0  # nothing changed since: no trigger
    assert len(router) == 1
    (etc / "dropbear").write_text("config dropbear\n\toption Port '2222'\n")
    (etc / "network").write_text("config interface 'lan'\n\toption proto 'static'\n")
    apply.reload_config(LAB)
    assert router[-1] == ("network, babeld, dropbear", 1.0)
    assert capsys.readouterr().err == ""


def test_reload_config_reports_an_unreadable_package_and_exits_0_like_openwrt(
    router: list[tuple[str, float]], capsys: pytest.CaptureFixture[str]
) -> None:
    apply.reload_config(LAB)
    (config.CONFIG / "network").write_text("config interface 'lan\n")
    assert apply.reload_config(LAB) == 0
    assert capsys.readouterr().err.startswith("uci: Parse error (")
    assert router == [("network, babeld, dropbear", 1.0)]  # procd still fires the triggers


def test_later_returns_at_once_and_runs_detached_after_the_delay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(procd, "LOG", tmp_path / "triggers.log")
    monkeypatch.setattr(procd, "LOCK", tmp_path / "triggers.lock")
    done = tmp_path / "done"
    start = time.monotonic()
    procd.later(lambda: done.write_text(str(time.monotonic())), what="test", delay=0.3)
    assert time.monotonic() - start < 0.2
    assert not done.exists()
    deadline = time.monotonic() + 5
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert 0.3 <= float(done.read_text()) - start < 2
    assert "trigger: test" in (tmp_path / "triggers.log").read_text()
