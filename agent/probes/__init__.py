"""Every probe kind the agent has, in one map (blackbox_exporter's prober map).

One module per kind; each exports `probe(Request) -> Result` (agent/probes/base.py).
agent/contract.py PROBE_KINDS lists the same names: the inventory's schema and
agent.json's reader take them from there, and a test holds the two equal.
"""

from __future__ import annotations

from agent.probes import dns, http, icmp, tcp, throughput, tls, trace
from agent.probes.base import Prober

PROBERS: dict[str, Prober] = {
    "icmp": icmp.probe,
    "dns": dns.probe,
    "tcp": tcp.probe,
    "tls": tls.probe,
    "http": http.probe,
    "throughput": throughput.probe,
    "trace": trace.probe,
}
