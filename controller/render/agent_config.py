"""/etc/meshkeeper/agent.json: the contract between controller and agent.

Versioned; the agent validates it (unknown keys are errors on its side too).
Neighbours carry inventory names and addresses so metrics are labelled with
names, never MAC addresses.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from controller.render.context import BABEL_LOCAL_PORT, NodeContext
from controller.render.network import mesh_devices

SCHEMA_VERSION = 1
PACKAGE = "agent.json"
# PBKDF2 rounds for the scrape password: the agent verifies a header once and
# remembers it, so this costs a router one derivation per scraper, not per scrape.
PBKDF2_ROUNDS = 20_000


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
        "listen": _listen(ctx),
        "collectors": dict.fromkeys(collectors(ctx), node.agent.interval),
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


def collectors(ctx: NodeContext) -> list[str]:
    """The collectors this node runs: the inventory's list, or what its config implies."""
    chosen = ctx.node.agent.collectors
    if chosen is not None:
        return list(chosen)
    names = ["system", "interfaces"]
    if ctx.meshed:
        names.append("babel" if ctx.protocol == "babel" else "batman_adv")
    if ctx.node.radios:
        names.append("wireless")
    if ctx.links:
        names.append("neighbours")
    return names


def _listen(ctx: NodeContext) -> dict[str, Any]:
    agent = ctx.node.agent
    listen: dict[str, Any] = {"address": str(ctx.plan.management), "port": agent.port}
    if agent.tls is not None:
        listen["tls"] = agent.tls.model_dump(exclude_none=True)
    if agent.basic_auth is not None:
        password = ctx.reveal(agent.basic_auth.password, PACKAGE)
        listen["basic_auth"] = {
            "username": agent.basic_auth.username,
            "password_hash": password_hash(password, f"{ctx.inv.network.name}/{ctx.node.name}"),
        }
    return listen


def password_hash(password: str, salt_from: str) -> str:
    """PBKDF2-SHA256, salted per node; deterministic so an unchanged inventory renders
    unchanged bytes (and `push` finds nothing to do)."""
    salt = hashlib.sha256(f"meshkeeper-agent/{salt_from}".encode()).digest()[:16]
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ROUNDS)
    return f"pbkdf2_sha256${PBKDF2_ROUNDS}${salt.hex()}${digest.hex()}"


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
