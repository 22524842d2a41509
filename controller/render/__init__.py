"""Render each node's OpenWrt file tree from the inventory.

One module per UCI package, in RENDERERS order (see tree.py). Each module's
`render(ctx)` yields `(package, Section)` pairs; the sections of one package
are emitted, in that order, as one /etc/config/<package> file by the UCI
codec. Besides UCI files a node gets /etc/meshkeeper/agent.json and
/etc/dropbear/authorized_keys.
"""
