"""Basic auth for the exporter: PBKDF2 in constant time, rationed per address and in
total, and the controller's config proof (agent/contract.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections import OrderedDict

from agent.config import BasicAuth
from agent.contract import config_proof, password_parts

FAILED_LOGINS_PER_SECOND = 2.0
PBKDF2_SHARE = 0.25  # of the server thread's time, at most, for password derivations
MAX_TRACKED_CLIENTS = 256


def verify_password(password: str, hashed: str) -> bool:
    """Against agent/contract.py's password hash, as the controller renders it."""
    try:
        rounds, salt, digest = password_parts(hashed)
    except ValueError:
        return False
    computed = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    return hmac.compare_digest(computed, digest)


class Bucket:
    """A token bucket: `rate` per second, at most `burst` saved up. Tokens may be
    counts (one per try) or seconds (what a derivation took)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = burst, time.monotonic()

    def has(self, now: float, need: float = 1.0) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return self.tokens >= need

    def take(self, now: float, amount: float = 1.0) -> bool:
        if not self.has(now, amount):
            return False
        self.tokens -= amount
        return True


class Auth:
    """Basic auth against a PBKDF2 hash, and the controller's config proof.

    Each address gets a small budget of guesses (passwords or proofs), and all
    untrusted addresses together a share of the server's time for PBKDF2:
    a host flooding wrong passwords exhausts its own budget, not Prometheus's,
    which still gets in after a restart (when the remembered headers are gone).
    """

    def __init__(self, auth: BasicAuth) -> None:
        self._auth = auth
        self._good: OrderedDict[bytes, None] = OrderedDict()
        self._time = {
            False: Bucket(PBKDF2_SHARE, 2 * PBKDF2_SHARE),
            True: Bucket(PBKDF2_SHARE, 2 * PBKDF2_SHARE),
        }
        self._clients: OrderedDict[str, Bucket] = OrderedDict()
        try:
            self._proof: str | None = config_proof(auth.password_hash)
        except ValueError:
            self._proof = None

    def _guesses(self, client: str) -> Bucket:
        bucket = self._clients.pop(client, None) or Bucket(
            FAILED_LOGINS_PER_SECOND / 2, FAILED_LOGINS_PER_SECOND
        )
        self._clients[client] = bucket  # most recent last
        while len(self._clients) > MAX_TRACKED_CLIENTS:
            self._clients.popitem(last=False)
        return bucket

    def allows(self, header: str | None, client: str, trusted: bool = False) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        fingerprint = hashlib.sha256(header.encode("latin-1")).digest()
        if fingerprint in self._good:
            return True
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        now = time.monotonic()
        clock = self._time[trusted]
        if not clock.has(now, 0.0) or not self._guesses(client).take(now):
            return False  # too many attempts: refused without spending CPU on them
        started = time.monotonic()
        # Both always run: a wrong username costs the same time as a wrong password.
        # bytes: compare_digest raises TypeError on non-ASCII str, which any client can send
        right_user = hmac.compare_digest(user.encode(), self._auth.username.encode())
        right_password = verify_password(password, self._auth.password_hash)
        clock.tokens -= time.monotonic() - started
        if right_user and right_password:
            self._good[fingerprint] = None
            while len(self._good) > 16:  # a few, never unbounded
                self._good.popitem(last=False)
            return True
        return False

    def proven(self, proof: str | None, client: str) -> bool:
        """The client holds the agent.json this agent runs (push's health check)."""
        if proof is None or self._proof is None:
            return False
        guesses = self._guesses(client)
        if not guesses.has(time.monotonic()):
            return False  # guessing: no answer, right or wrong
        if hmac.compare_digest(proof.encode("latin-1"), self._proof.encode()):
            return True
        guesses.take(time.monotonic())
        return False
