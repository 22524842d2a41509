"""The apply shim: what OpenWrt's services do with /etc/config, inside a lab router.

Pure translations (UCI text in, config text out) live beside the thin layer
that applies them: `babeld_conf` writes babeld.conf as babeld.init does,
`firewall` writes an nft ruleset as fw4 would, `network` plans addresses and
routes as netifd would, `dropbear_conf` maps /etc/config/dropbear to listeners
as its init script does; `apply` runs them on reload_config (later, through
`procd`), boot and reboot; `ubus` reports services and interfaces as OpenWrt's
ubus CLI prints them.
"""
