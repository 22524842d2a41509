"""Kernel and daemon readers that collectors and probes share.

    netlink.py   rtnetlink: links, addresses, counters
    nl80211.py   nl80211: stations and survey of the radios
    batadv.py    batman-adv's generic netlink family
    icmp.py      ICMP echo over raw or unprivileged ping sockets
    dnswire.py   DNS messages: an A query out, a reply parsed however hostile
    routes.py    default routes: each uplink's first hop

Each parses bytes with a pure function and reads through a thin layer, so
tests feed recorded dumps (tests/fixtures/).
"""
