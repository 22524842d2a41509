"""Every probe kind the agent has, in one map (blackbox_exporter's prober map).

One module per kind; each exports `probe(Request) -> Result` (agent/probes/base.py).
agent/contract.py PROBE_KINDS lists the same names: the inventory's schema and
agent.json's reader take them from there, and a test holds the two equal.
"""

from __future__ import annotations

from agent.probes import icmp, tcp
from agent.probes.base import Prober

PROBERS: dict[str, Prober] = {
    "icmp": icmp.probe,
    "tcp": tcp.probe,
}
