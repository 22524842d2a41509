"""Is the node's agent answering? Part of a push's health check (ARCHITECTURE.md).

The controller runs where the NOC is, so it asks the agent the way Prometheus
does: an HTTP request to the listen address and port of the node's agent.json.
Before the push, an answer counts when it is meshkeeper-agent's (its Server
header; a 401 from an agent behind basic auth is an agent answering). After
it, when the agent before could show which agent.json it ran, the answer must
carry the sha256 of the new agent.json: the old process may still be
answering while the new config is applied.

How the agent shows it (agent/contract.py): to anyone when agent.json holds
no password hash; else only to a client that authenticates or sends the
config proof, which the controller makes from the password hash in the
agent.json it rendered (the scrape password itself is not needed). Such an
agent says `Meshkeeper-Config: hidden` to everyone else, so the check before
the push, which has no proof for the old config, still learns that the agent
can show it. Agents from before this change send the hash with every answer.

A push only requires the agent after the push if it answered before, so a
node without an agent yet (or a controller that cannot reach the port) is
never rolled back for it. Agents that require a client certificate (mTLS)
are not checked: the controller has none to show.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
from dataclasses import dataclass

from agent.contract import (
    CONFIG_HEADER,
    CONFIG_HIDDEN,
    CONFIG_HIDDEN_HEADER,
    CONFIG_PROOF_HEADER,
    config_proof,
)
from controller.push.plan import NodeChange

AGENT_JSON = "etc/meshkeeper/agent.json"
SHOWN = f"{CONFIG_HEADER.lower()}: "
HIDDEN = f"{CONFIG_HIDDEN_HEADER.lower()}: {CONFIG_HIDDEN}"


@dataclass(frozen=True)
class AgentEndpoint:
    address: str
    port: int
    tls: bool
    mtls: bool  # scrapers must show a client certificate
    config_sha256: str  # of the rendered agent.json: the agent shows the one it runs with
    proof: str | None = None  # with basic auth: what makes the agent show it


@dataclass(frozen=True)
class AgentSeen:
    """What answered on the agent's port before the push."""

    shows_config: bool  # it sends the config header, or says it hides it from us


def agent_endpoint(change: NodeChange) -> AgentEndpoint | None:
    """Where the node's agent answers after the push, from the rendered agent.json."""
    for file in change.files:
        if file.path == AGENT_JSON:
            listen = json.loads(file.data)["listen"]
            tls = listen.get("tls") or {}
            auth = listen.get("basic_auth")
            return AgentEndpoint(
                str(listen["address"]),
                int(listen["port"]),
                bool(tls),
                "client_ca" in tls,
                hashlib.sha256(file.data).hexdigest(),
                config_proof(auth["password_hash"]) if auth else None,
            )
    return None


def agent_runs(endpoint: AgentEndpoint, seen: AgentSeen, timeout: float = 2.0) -> bool:
    """The agent answers after the push, with the new agent.json when it can say so."""
    answer = _ask(endpoint.address, endpoint.port, endpoint.tls, timeout, proof=endpoint.proof)
    if answer is None or not _is_agent(answer):
        return False
    return not seen.shows_config or f"{SHOWN}{endpoint.config_sha256}" in answer


def agent_before(address: str, port: int, timeout: float = 2.0) -> AgentSeen | None:
    """meshkeeper-agent on the port before the push (plain or TLS: the controller does
    not know which the running one serves), or None."""
    for tls in (False, True):
        try:
            answer = _ask(address, port, tls, timeout, reachable=True)
        except OSError:  # nothing listens (or a firewall drops): TLS will not fare better
            return None
        if answer is not None and _is_agent(answer):
            return AgentSeen(shows_config=SHOWN in answer or HIDDEN in answer)
    return None


def _is_agent(head: str) -> bool:
    return "server: meshkeeper-agent" in head or SHOWN in head


def agent_answers(address: str, port: int, tls: bool, timeout: float = 2.0) -> bool:
    return _ask(address, port, tls, timeout) is not None


def unverified_tls() -> ssl.SSLContext:
    """For asking an agent whether it runs, not for trusting its numbers."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _request(proof: str | None) -> bytes:
    extra = f"{CONFIG_PROOF_HEADER}: {proof}\r\n" if proof else ""
    return (
        f"GET /metrics HTTP/1.0\r\nHost: meshkeeper-agent\r\nConnection: close\r\n{extra}\r\n"
    ).encode("ascii")


def _ask(
    address: str,
    port: int,
    tls: bool,
    timeout: float,
    *,
    reachable: bool = False,
    proof: str | None = None,
) -> str | None:
    """The answer's status line and headers (lower-cased), or None without an HTTP answer.
    With `reachable`, a failed TCP connect raises instead (the caller stops trying)."""
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
    except OSError:
        if reachable:
            raise
        return None
    try:
        with raw:
            if tls:
                with unverified_tls().wrap_socket(raw) as wrapped:
                    return _head(wrapped, _request(proof))
            return _head(raw, _request(proof))
    except OSError:  # reset, timed out, TLS failure (ssl.SSLError)
        return None


def _head(sock: socket.socket, request: bytes) -> str | None:
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 4096:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    return head.lower() if head.startswith("HTTP/1.") else None
