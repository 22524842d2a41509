"""Is the node's agent answering? Part of a push's health check (ARCHITECTURE.md).

The controller runs where the NOC is, so it asks the agent the way Prometheus
does: an HTTP request to the listen address and port of the node's agent.json.
Any HTTP answer counts (a 401 from an agent behind basic auth is an agent
answering); with TLS a completed handshake counts. A push only requires the
agent after the push if it answered before, so a node without an agent yet
(or a controller that cannot reach the port) is never rolled back for it.
"""

from __future__ import annotations

import json
import socket
import ssl

from controller.push.plan import NodeChange

AGENT_JSON = "etc/meshkeeper/agent.json"
REQUEST = b"GET /metrics HTTP/1.0\r\nHost: meshkeeper-agent\r\nConnection: close\r\n\r\n"


def agent_endpoint(change: NodeChange) -> tuple[str, int, bool] | None:
    """(address, port, tls) from the rendered agent.json, or None without one."""
    for file in change.files:
        if file.path == AGENT_JSON:
            listen = json.loads(file.data)["listen"]
            return str(listen["address"]), int(listen["port"]), "tls" in listen
    return None


def agent_answered_before(address: str, port: int, timeout: float = 2.0) -> bool:
    """Before a push the controller does not know if the running agent serves TLS:
    either answer counts."""
    return agent_answers(address, port, False, timeout) or agent_answers(
        address, port, True, timeout
    )


def agent_answers(address: str, port: int, tls: bool, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw:
            if tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE  # liveness only: no data is trusted
                with context.wrap_socket(raw) as wrapped:
                    return _http_answers(wrapped)
            return _http_answers(raw)
    except OSError:  # refused, timed out, reset, TLS failure (ssl.SSLError)
        return False


def _http_answers(sock: socket.socket) -> bool:
    sock.sendall(REQUEST)
    return sock.recv(16).startswith(b"HTTP/1.")
