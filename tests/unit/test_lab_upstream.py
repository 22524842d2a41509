"""The emulated internet's service configs for each fault (lab/upstream.py), without a lab:
which resolver lies about what, as `lab fault dns-tamper` asks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.model.load import load_inventory
from lab import upstream
from lab.faults import _build
from lab.host import LabError
from lab.paths import LabPaths
from lab.plan import INTERNET_NS, lab_plan
from tests.conftest import EXAMPLE


def resolvers(faults: list[tuple[str, tuple[str, ...]]], tmp_path: Path) -> dict[str, Any]:
    """Namespace -> the tamper rules of its resolver."""
    inv = load_inventory(EXAMPLE, resolve_secrets=False)
    plan = lab_plan(inv)
    paths = LabPaths(tmp_path / "lab")
    out = upstream.configs(inv, plan, paths, faults)
    return {ns: config["dns"][0]["tamper"] for ns, config in out.items() if config.get("dns")}


def test_dns_tamper_lies_at_every_resolver(tmp_path: Path) -> None:
    tamper = resolvers([("dns-tamper", ())], tmp_path)
    assert len(tamper) == 3  # both ISPs' and the one abroad
    assert all(t["chat.platform.test"]["mode"] == "lie" for t in tamper.values())


def test_dns_tamper_at_one_resolver_leaves_the_others_honest(tmp_path: Path) -> None:
    tamper = resolvers([("dns-tamper", ("at=isp-lte", "bogon"))], tmp_path)
    lying = {ns for ns, rules in tamper.items() if rules}
    assert lying == {"mki-isp-lte"}
    assert tamper["mki-isp-lte"]["chat.platform.test"] == "bogon"
    abroad = resolvers([("dns-tamper", ("at=international",))], tmp_path)
    assert {ns for ns, rules in abroad.items() if rules} == {INTERNET_NS}


def test_dns_tamper_at_an_unknown_resolver_is_refused() -> None:
    inv = load_inventory(EXAMPLE, resolve_secrets=False)
    with pytest.raises(LabError, match="at=isp-nowhere: no such resolver"):
        _build(inv, lab_plan(inv), "dns-tamper", ["at=isp-nowhere"])
