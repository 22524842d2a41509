"""/etc/meshkeeper/agent.json: the contract between controller and agent.

Versioned; the agent validates it (unknown keys are errors on its side too).
Neighbours carry inventory names and addresses so metrics are labelled with
names, never MAC addresses.
"""

from __future__ import annotations

import json
from typing import Any

from controller.render.context import BABEL_LOCAL_PORT, NodeContext
from controller.render.network import mesh_devices

SCHEMA_VERSION = 1


def render(ctx: NodeContext) -> str:
    node = ctx.node
    plans = ctx.inv.plan
    config: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "node": node.name,
        "network": ctx.inv.network.name,
        "role": node.role,
        "release": node.release,
        "model": node.model,
        "listen": {"address": str(ctx.plan.management), "port": node.agent.port},
        "mesh": {
            "protocol": ctx.protocol if ctx.meshed else None,
            "devices": mesh_devices(ctx),
            "babel_local": f"[::1]:{BABEL_LOCAL_PORT}" if ctx.protocol == "babel" else None,
        },
        "neighbours": [
            {"name": name, "address": str(plans[name].mesh_address), "medium": link.medium}
            for name, link in ctx.links
            if name in plans
        ],
        "uplinks": [
            {"interface": iface, "isp": uplink.isp, "proto": uplink.proto}
            for iface, uplink in zip(ctx.uplink_names(), node.uplinks, strict=True)
        ],
        "probes": _probes(ctx),
    }
    # Compact: json's C encoder is bypassed by indent=, and this file is for the
    # agent (`jq .` shows it to people); `meshkeeper diff` compares it by meaning.
    return json.dumps(config, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def _probes(ctx: NodeContext) -> dict[str, Any]:
    probes = ctx.inv.probes
    tiers = probes.tiers
    return {
        "interval_seconds": probes.interval,
        "gateway": tiers.gateway,
        **{
            tier: [
                target.model_dump(mode="json", exclude_none=True) for target in getattr(tiers, tier)
            ]
            for tier in ("isp", "domestic", "international", "platforms")
        },
    }
