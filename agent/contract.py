"""The agent's published interface: what the controller may import from agent/, stdlib only.

agent.json's schema version and limits, the HTTP headers push's health check
reads, and the proof it sends. Spelled once here so the two sides cannot drift.

The config hash and who sees it. Every answer from an agent without basic
auth carries `Meshkeeper-Config-Sha256` (agent.json then holds no secret).
With basic auth, agent.json holds the scrape password's PBKDF2 hash, so its
sha256 is an offline password oracle (guess, render, hash, compare): only
authenticated answers carry it, and answers to a client that shows the config
proof. Every other answer says `Meshkeeper-Config: hidden` instead, the same
bytes whatever the config, so `meshkeeper push` knows to prove.

The proof is HMAC-SHA256 keyed by the PBKDF2 digest in agent.json: whoever
rendered (or read) that agent.json can make it, nobody else can without
guessing the password, one rate-limited online guess at a time. It shows the
hash only, never the metrics: it grants nothing its holder did not have.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

SCHEMA_VERSION = 1
CONFIG_HEADER = "Meshkeeper-Config-Sha256"
CONFIG_HIDDEN_HEADER = "Meshkeeper-Config"  # value "hidden": prove, or authenticate
CONFIG_HIDDEN = "hidden"
CONFIG_PROOF_HEADER = "Meshkeeper-Config-Proof"
_PROOF_MESSAGE = b"meshkeeper-agent config-proof v1"

# PBKDF2 for the scrape password. The agent verifies on its one server thread: a
# derivation stalls every other client for its duration, so the count has a ceiling.
PBKDF2_MIN_ROUNDS = 10_000
PBKDF2_MAX_ROUNDS = 1_000_000
SALT_MIN_BYTES, SALT_MAX_BYTES = 8, 64
MAX_TRUSTED = 16  # listen.trusted: the NOC's addresses, a handful


# The scrape password in agent.json: `pbkdf2_sha256$ROUNDS$SALT_HEX$HASH_HEX`.
PASSWORD_SCHEME = "pbkdf2_sha256"  # noqa: S105 - a hash scheme name, not a password
PASSWORD_HASH = re.compile(rf"{PASSWORD_SCHEME}\$[1-9][0-9]*\$(?:[0-9a-f]{{2}})+\$[0-9a-f]{{64}}")


def password_hash(password: str, salt: bytes, rounds: int) -> str:
    """The controller writes it; the agent verifies against it."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    return f"{PASSWORD_SCHEME}${rounds}${salt.hex()}${digest.hex()}"


def password_parts(hashed: str) -> tuple[int, bytes, bytes]:
    """(rounds, salt, digest) of a password hash; ValueError if it is not one."""
    if not PASSWORD_HASH.fullmatch(hashed):
        raise ValueError(f"not {PASSWORD_SCHEME}$ROUNDS$SALT$HASH")
    _, rounds, salt, digest = hashed.split("$")
    if len(rounds) > 9:  # int() of thousands of digits is itself an error
        raise ValueError("absurd PBKDF2 round count")
    return int(rounds), bytes.fromhex(salt), bytes.fromhex(digest)


def config_proof(password_hash: str) -> str:
    """What push sends in CONFIG_PROOF_HEADER for an agent.json with this password hash."""
    digest = password_parts(password_hash)[2]
    return hmac.new(digest, _PROOF_MESSAGE, hashlib.sha256).hexdigest()


# Collectors: every name the agent has, and what runs when agent.json lists none.
COLLECTORS = ("system", "interfaces", "babel", "batman_adv", "wireless", "neighbours")


def default_collectors(protocol: str | None, *, radios: bool, neighbours: bool) -> list[str]:
    """The collectors a node runs unless the inventory lists them: what its config implies.
    `protocol` is the mesh routing protocol (babel, batman-adv) or None when not meshed."""
    names = ["system", "interfaces"]
    if protocol == "babel":
        names.append("babel")
    elif protocol == "batman-adv":
        names.append("batman_adv")
    if radios:
        names.append("wireless")
    if neighbours:
        names.append("neighbours")
    return names


# Shutdown detection. Tiers, from the router outwards: `mesh` (a non-gateway reaching
# the gateways), `gateway` (each uplink's first hop), then the inventory's target lists.
TARGET_TIERS = ("isp", "domestic", "international", "platforms")
TIERS = ("mesh", "gateway", *TARGET_TIERS)
# Probe kinds, in the order a connection climbs the layers. agent/probes has one
# module per kind; the inventory's schema takes its list from here.
PROBE_KINDS = ("icmp", "dns", "tcp", "tls", "http", "throughput", "trace")
MESH_PATH = "mesh"  # the `uplink` label of probes a non-gateway sends through the mesh
# OONI's failure strings (and the few the agent adds), the `failure` label's values.
FAILURES = (
    "connection_refused",
    "connection_reset",
    "generic_timeout_error",
    "eof_error",
    "network_unreachable",
    "host_unreachable",
    "dns_nxdomain_error",
    "dns_servfail_error",
    "dns_refused_error",
    "dns_no_answer",
    "dns_bogon_error",
    "dns_injection",
    "dns_wrong_answer",
    "ssl_invalid_hostname",
    "ssl_unknown_authority",
    "ssl_failed_handshake",
    "http_blockpage",
    "http_unexpected_status",
    "http_unexpected_body",
    "throughput_low",
    "unknown_failure",
)

# The verdict's classes. Labels beyond `class` are empty where they do not apply.
VERDICT_CLASSES = (
    "ok",
    "local_failure",
    "mesh_partition",
    "isp_outage",
    "international_shutdown",
    "national_shutdown",
    "dns_tampering",
    "platform_blocked",
    "throttled",
    "anomaly",
)
VERDICT_LABELS = ("class", "uplink", "target", "platform", "layer")
BLOCK_LAYERS = ("dns", "tcp_ip", "tls_sni", "http")
# The command `meshkeeper backfill` runs over SSH: the agent's program and its subcommand.
AGENT_PROGRAM = "meshkeeper-agent"
JOURNAL_EXPORT = ("journal", "export")


def finding_text(labels: Mapping[str, str]) -> str:
    """A verdict class as people read it: `platform_blocked{uplink=wan,platform=chat,
    layer=tls_sni}`, the labels that say where (empty ones left out)."""
    extra = ",".join(f"{name}={labels[name]}" for name in VERDICT_LABELS[1:] if labels.get(name))
    cls = labels.get("class", "?")
    return f"{cls}{{{extra}}}" if extra else cls


VERDICT_ENTER_ROUNDS = 3  # K: agreeing rounds before a class is entered
VERDICT_LEAVE_ROUNDS = 2  # L: rounds without it before it is left

# Metric names the controller, the NOC's rules and the agent share.
METRIC_PREFIX = "meshkeeper_"
M_LINK_UP = "meshkeeper_link_up"
M_CONFIG_GENERATION = "meshkeeper_config_generation"
M_COLLECTOR_SUCCESS = "meshkeeper_collector_success"
M_PROBE_SUCCESS = "meshkeeper_probe_success"
M_PROBE_DURATION = "meshkeeper_probe_duration_seconds"
M_PROBE_FAILURES = "meshkeeper_probe_failures"  # a counter: the exposition adds _total
M_TIER_REACHABLE = "meshkeeper_tier_reachable_ratio"
M_VERDICT = "meshkeeper_verdict"
M_VERDICT_SINCE = "meshkeeper_verdict_since_timestamp_seconds"
M_LAST_SUCCESS = "meshkeeper_last_success_timestamp_seconds"
M_PROBE_ROUND = "meshkeeper_probe_round_timestamp_seconds"
M_PROBE_ROUND_DURATION = "meshkeeper_probe_round_duration_seconds"
M_PROBE_ROUNDS = "meshkeeper_probe_rounds"  # a counter: _total
M_PROBE_BYTES = "meshkeeper_probe_traffic_bytes"  # a counter: _total, by direction
M_UPLINK = "meshkeeper_uplink"  # an info family: the exposition adds _info {uplink, isp}
M_CONFIG = "meshkeeper_config"  # an info family: _info {hash}
M_CONFIG_PENDING = "meshkeeper_config_pending"
M_CONFIG_ROLLBACK = "meshkeeper_config_last_rollback_timestamp_seconds"  # {reason}
ROLLBACK_REASONS = ("boot", "timer", "now")  # rollback.sh's modes; anything else is "other"
M_NEIGHBOR_LOSS = "meshkeeper_neighbor_loss_ratio"
M_BABEL_COST = "meshkeeper_babel_neighbor_cost"
M_INTERFACE_UP = "meshkeeper_interface_up"

# The controller's own exporter (`meshkeeper monitoring exporter`, in the NOC): the push
# state store (.meshkeeper/state.db) as metrics, one series set per node. Spelled here
# with the agent's so the NOC's rules take every name from one place.
M_PUSH_STATE = "meshkeeper_push_state"  # {node, state}: 1 for the state it is in
M_PUSH_GENERATION = "meshkeeper_push_generation"  # {node}: the generation it was pushed
M_PUSH_SINCE = "meshkeeper_push_state_since_timestamp_seconds"  # {node}
PUSH_STATES = ("pending", "applying", "applied", "rolled_back", "unreachable", "drifted", "failed")

# Prometheus job names the rendered config uses (the rules select on them).
JOB_AGENTS = "meshkeeper"
JOB_CONTROLLER = "meshkeeper_controller"
JOB_FEDERATE = "federate-"  # + the segment's name: the NOC's federation from a segment
