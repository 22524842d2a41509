"""Network-wide checks: what no single field can know about itself.

Each check is a small function of the inventory returning located problems;
they are listed in CHECKS and all run, so the operator sees every problem.
A cause set once in `defaults` or a profile is reported once, naming the
nodes it affects.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.errors import Problem
from controller.model.checks.access import check_login_keys, check_management_reach
from controller.model.checks.addressing import check_plan, check_subnets, check_unique_addresses
from controller.model.checks.agent import check_agent_port
from controller.model.checks.keys import check_host_keys, check_inline_keys
from controller.model.checks.located import Found, merge_shared
from controller.model.checks.radio import check_access_points, check_channels, check_mesh_agreement
from controller.model.checks.secrets import check_secrets
from controller.model.checks.settings import check_probes, check_releases, check_ssh, check_timezone
from controller.model.checks.topology import (
    check_gateway_paths,
    check_links,
    check_noc,
    check_uplinks,
)
from controller.model.inventory import Inventory

CHECKS: tuple[Callable[[Inventory], Found], ...] = (
    check_plan,
    check_unique_addresses,
    check_subnets,
    check_links,
    check_mesh_agreement,
    check_channels,
    check_access_points,
    check_uplinks,
    check_gateway_paths,
    check_releases,
    check_timezone,
    check_noc,
    check_probes,
    check_ssh,
    check_host_keys,
    check_inline_keys,
    check_agent_port,
    check_management_reach,
)
# Pointed out without refusing the inventory; they need the secrets (key files).
WARNINGS: tuple[Callable[[Inventory], Found], ...] = (check_login_keys,)


def check_inventory(inv: Inventory, *, resolve_secrets: bool) -> list[Problem]:
    found = [problem for check in CHECKS for problem in check(inv)]
    if resolve_secrets:
        found.extend(check_secrets(inv))
    return merge_shared(found)


def inventory_warnings(inv: Inventory) -> list[Problem]:
    """What a valid inventory may still get wrong; each prints as `warning: ...`."""
    return merge_shared([warning for check in WARNINGS for warning in check(inv)])
