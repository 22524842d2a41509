"""The agent's port: not one a service on the node holds, nor a privileged one.

The agent listens on the node's management address; on a port that dropbear,
dnsmasq, uhttpd, odhcpd or babeld uses it would fail to start (or, started
first, take the port from that service: SSH on port 22 would be the worst).
"""

from __future__ import annotations

from controller.model.checks.located import Found, at_node
from controller.model.inventory import Inventory

# Ports an OpenWrt node's own services hold (TCP or UDP).
NODE_SERVICES = {
    22: "SSH (dropbear)",
    53: "DNS (dnsmasq)",
    67: "the DHCP server (dnsmasq)",
    68: "the DHCP client",
    80: "the web interface (uhttpd)",
    123: "NTP",
    443: "the web interface over HTTPS (uhttpd)",
    546: "the DHCPv6 client",
    547: "the DHCPv6 server (odhcpd)",
    6696: "babel",
}
FIRST_FREE = 1024
TODO = "choose a free port above 1023, such as 9110 (the default)"


def check_agent_port(inv: Inventory) -> Found:
    for name, node in sorted(inv.nodes.items()):
        port = node.agent.port
        if not node.agent.enabled:
            continue
        if port == node.ssh.port:
            what = (
                f"{port} is the node's SSH port (ssh.port): the agent would take it from dropbear"
            )
        elif port in NODE_SERVICES:
            what = f"{port} is the port of {NODE_SERVICES[port]} on the node"
        elif port < FIRST_FREE:
            what = f"{port} is a privileged port, kept for the router's own services"
        else:
            continue
        yield at_node(inv, name, ("agent", "port"), what, TODO)
