"""/etc/meshkeeper/agent.json: the contract between controller and agent.

Versioned; the agent validates it (unknown keys are errors on its side too).
Neighbours carry inventory names and addresses so metrics are labelled with
names, never MAC addresses. `listen.trusted` names the NOC (its Prometheus,
and the controller, which runs there): the agent keeps connection slots for it.

The scrape password's PBKDF2 salt is per node and keyed by a secret: HMAC-SHA256
of the network and node names under the mesh key (a secret the inventory
already holds, by reference). Not random per render: the same inventory must
render the same bytes, or every push would re-push every agent.json with a
password (the tree compare is by bytes). Not from public names alone: then the
salt is known before agent.json leaks (a table per node can be built ahead),
and agent.json's bytes can be rebuilt from a password guess (a hash of the
file becomes a password oracle). Without a mesh key (an open mesh) the salt
falls back to public names. Changing the mesh key changes the salt, so it
re-pushes agent.json with that change, which re-pushes wireless anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from agent import contract
from agent.contract import SCHEMA_VERSION
from controller.render.context import BABEL_LOCAL_PORT, NodeContext
from controller.render.network import mesh_devices

PACKAGE = "agent.json"
# PBKDF2 rounds for the scrape password: the agent verifies a header once and
# remembers it, so this costs a router one derivation per scraper, not per scrape.
# Within agent/contract.py's PBKDF2_MIN_ROUNDS..PBKDF2_MAX_ROUNDS.
PBKDF2_ROUNDS = 20_000
SALT_LABEL = b"meshkeeper-agent basic_auth salt v1\0"


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
            {
                "interface": iface,
                "isp": uplink.isp,
                "proto": uplink.proto,
                # what the uplink's traffic leaves through: the agent's probes bind to it
                "device": f"pppoe-{iface}" if uplink.proto == "pppoe" else uplink.port,
                **({"gateway": uplink.gateway} if uplink.gateway else {}),
            }
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
    return contract.default_collectors(
        ctx.protocol if ctx.meshed else None,
        radios=bool(ctx.node.radios),
        neighbours=bool(ctx.links),
    )


def _listen(ctx: NodeContext) -> dict[str, Any]:
    agent = ctx.node.agent
    listen: dict[str, Any] = {
        "address": str(ctx.plan.management),
        "port": agent.port,
        # the NOC, where the controller runs too, and the router's segment Prometheus
        "trusted": [
            str(ctx.inv.noc.address),
            *(
                str(seg.address)
                for seg in ctx.inv.noc.segments.values()
                if ctx.node.name in seg.nodes
            ),
        ],
    }
    if agent.tls is not None:
        listen["tls"] = agent.tls.model_dump(exclude_none=True)
    if agent.basic_auth is not None:
        password = ctx.reveal(agent.basic_auth.password, PACKAGE)
        listen["basic_auth"] = {
            "username": agent.basic_auth.username,
            "password_hash": password_hash(password, _salt(ctx)),
        }
    return listen


def _salt(ctx: NodeContext) -> bytes:
    """Per node, keyed by the mesh key (see the module docstring for why)."""
    names = f"{ctx.inv.network.name}/{ctx.node.name}".encode()
    mesh_key = ctx.inv.mesh.key
    if mesh_key is None:
        return hashlib.sha256(b"meshkeeper-agent/" + names).digest()[:16]
    key = ctx.secrets.get(mesh_key).reveal().encode()
    return hmac.new(key, SALT_LABEL + names, hashlib.sha256).digest()[:16]


def password_hash(password: str, salt: bytes) -> str:
    """PBKDF2-SHA256 as the agent verifies it (agent/contract.py)."""
    return contract.password_hash(password, salt, PBKDF2_ROUNDS)


def _probes(ctx: NodeContext) -> dict[str, Any]:
    probes = ctx.inv.probes
    tiers = probes.tiers
    inv = ctx.inv
    # The mesh tier: a router without uplinks checks it still reaches the gateways.
    gateways = [
        {"name": name, "address": str(inv.plan[name].mesh_address)}
        for name, other in sorted(inv.nodes.items())
        if other.uplinks and name != ctx.node.name and name in inv.plan
    ]
    return {
        "interval_seconds": probes.interval,
        "gateway": tiers.gateway,
        **({"gateways": gateways} if gateways and not ctx.node.uplinks else {}),
        **({"ca_file": probes.ca_file} if probes.ca_file else {}),
        "throughput_every": probes.throughput.every,
        "download_bytes": probes.throughput.bytes,
        **{
            tier: [
                target.model_dump(mode="json", exclude_none=True) for target in getattr(tiers, tier)
            ]
            for tier in contract.TARGET_TIERS
        },
    }
