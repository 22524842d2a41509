"""Is the node's agent answering? Part of a push's health check (ARCHITECTURE.md).

The controller runs where the NOC is, so it asks the agent the way Prometheus
does: an HTTP request to the listen address and port of the node's agent.json.
Before the push, an answer counts when it is meshkeeper-agent's (its Server
header; a 401 from an agent behind basic auth is an agent answering). After
it, when the agent before showed which agent.json it ran (a header it sends
with every answer, 401s too), the answer must carry the sha256 of the new
agent.json: the old process may still be answering while the new config is
applied. A push only requires the agent after the push if it answered before,
so a node without an agent yet (or a controller that cannot reach the port)
is never rolled back for it. Agents that require a client certificate (mTLS)
are not checked: the controller has none to show.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
from dataclasses import dataclass

from controller.push.plan import NodeChange

AGENT_JSON = "etc/meshkeeper/agent.json"
CONFIG_HEADER = "Meshkeeper-Config-Sha256"  # agent/exporter.py sends it with every answer
REQUEST = b"GET /metrics HTTP/1.0\r\nHost: meshkeeper-agent\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class AgentEndpoint:
    address: str
    port: int
    tls: bool
    mtls: bool  # scrapers must show a client certificate
    config_sha256: str  # of the rendered agent.json: the agent shows the one it runs with


@dataclass(frozen=True)
class AgentSeen:
    """What answered on the agent's port before the push."""

    shows_config: bool  # it sends the config header (agents since it exists do)


def agent_endpoint(change: NodeChange) -> AgentEndpoint | None:
    """Where the node's agent answers after the push, from the rendered agent.json."""
    for file in change.files:
        if file.path == AGENT_JSON:
            listen = json.loads(file.data)["listen"]
            tls = listen.get("tls") or {}
            return AgentEndpoint(
                str(listen["address"]),
                int(listen["port"]),
                bool(tls),
                "client_ca" in tls,
                hashlib.sha256(file.data).hexdigest(),
            )
    return None


def agent_runs(endpoint: AgentEndpoint, seen: AgentSeen, timeout: float = 2.0) -> bool:
    """The agent answers after the push, with the new agent.json when it can say so."""
    answer = _ask(endpoint.address, endpoint.port, endpoint.tls, timeout)
    if answer is None or not _is_agent(answer):
        return False
    return not seen.shows_config or f"{CONFIG_HEADER.lower()}: {endpoint.config_sha256}" in answer


def agent_before(address: str, port: int, timeout: float = 2.0) -> AgentSeen | None:
    """meshkeeper-agent on the port before the push (plain or TLS: the controller does
    not know which the running one serves), or None."""
    for tls in (False, True):
        try:
            answer = _ask(address, port, tls, timeout, reachable=True)
        except OSError:  # nothing listens (or a firewall drops): TLS will not fare better
            return None
        if answer is not None and _is_agent(answer):
            return AgentSeen(shows_config=f"{CONFIG_HEADER.lower()}: " in answer)
    return None


def _is_agent(head: str) -> bool:
    return "server: meshkeeper-agent" in head or f"{CONFIG_HEADER.lower()}: " in head


def agent_answers(address: str, port: int, tls: bool, timeout: float = 2.0) -> bool:
    return _ask(address, port, tls, timeout) is not None


def unverified_tls() -> ssl.SSLContext:
    """For asking an agent whether it runs, not for trusting its numbers."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _ask(
    address: str, port: int, tls: bool, timeout: float, *, reachable: bool = False
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
                    return _head(wrapped)
            return _head(raw)
    except OSError:  # reset, timed out, TLS failure (ssl.SSLError)
        return None


def _head(sock: socket.socket) -> str | None:
    sock.sendall(REQUEST)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 4096:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    return head.lower() if head.startswith("HTTP/1.") else None
