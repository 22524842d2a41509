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


def config_proof(password_hash: str) -> str:
    """What push sends in CONFIG_PROOF_HEADER for an agent.json with this password hash."""
    digest = bytes.fromhex(password_hash.rsplit("$", 1)[-1])
    return hmac.new(digest, _PROOF_MESSAGE, hashlib.sha256).hexdigest()
