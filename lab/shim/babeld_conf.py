"""babeld.conf from /etc/config/babeld, line for line as OpenWrt's init script writes it.

A port of start_service() in babeld.init (openwrt/routing @ 13b7a3d,
babeld/files/babeld.init), quirks included, because babeld on a real router
reads what that script writes, not what its comments promise:

- `general` options become `option-name value` lines as the sections are
  walked (`_` → `-` in the name only); conf_file and conf_dir are skipped, and
  so is any option whose name contains `_ITEM` or `_LENGTH` (the script's
  guard against the shell's list variables). A list gives one line per item.
- `filter` sections come next, in file order, built as babel_filter() builds
  them: the type with an empty switch, so each line starts with a space; then
  `local`, ip, eq, le, ge, src-ip, src-eq, src-le, src-ge, neigh, id, proto,
  `if`; then the action, again with an empty switch, so two spaces before it.
  A list-valued option reads as its items joined by spaces (config_get).
- `interface` lines come last, one per device, each from its own temporary
  file, so they are ordered by file name (`interface_DEV.conf`), not by
  section; a later section for the same device replaces the earlier line.
  ifname `default` gives a `default ...` line.
- An interface section without ifname is NOT the "default options" section
  the shipped config's comment describes: the script logs "Ignoring interface
  section which miss ifname" and returns before it redefines its option
  callback, so that section's options go wherever the previous section's went
  (the general lines, the previous interface's line, or nowhere).
- Booleans read as config_get_bool reads them: 1, on, true, yes, enabled.

What the lab changes: `devices` stands for network_get_device (interfaces)
and uci_get_state (a filter's `if`), and may name several devices (the mesh0
of a lab router is one veth per link): an interface section gives one line per
device, a filter one line per device; none gives no line. Files from conf_file
and conf_dir are not read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from controller.uci import Package, Section

__all__ = ["babeld_conf"]

log = logging.getLogger(__name__)

_TRUE = frozenset({"1", "on", "true", "yes", "enabled"})  # get_bool() in functions.sh
_GENERAL_SKIPPED = frozenset({"conf_file", "conf_dir"})
# babel_filter(): (option, switch) in the order it appends them; "" is no switch.
_SELECTORS = (
    ("ip", "ip"),
    ("eq", "eq"),
    ("le", "le"),
    ("ge", "ge"),
    ("src_ip", "src-ip"),
    ("src_eq", "src-eq"),
    ("src_le", "src-le"),
    ("src_ge", "src-ge"),
    ("neigh", "neigh"),
    ("id", "id"),
    ("proto", "proto"),
)

Devices = Callable[[str], Sequence[str]]
OptionCallback = Callable[[str, str], None]


def babeld_conf(pkg: Package, devices: Devices) -> str:
    """The babeld.conf text babeld.init writes for `pkg`; `devices` resolves a logical name."""
    general: list[str] = []
    interface_files: dict[str, list[str]] = {}  # file name → its one line, as words
    option_cb: OptionCallback | None = None  # the shell's option_cb, as redefined so far
    for section in pkg.sections:  # the second config_load, with babel_config_cb
        option_cb = _config_cb(section, option_cb, general, interface_files, devices)
        if option_cb is not None:
            for name, value in section.options.items():
                for item in [value] if isinstance(value, str) else value:
                    option_cb(name, item)
    filters = [
        line
        for section in pkg.sections
        if section.type == "filter" and not _get_bool(section, "ignore")
        for line in _filter_lines(section, devices)
    ]
    interfaces = [" ".join(interface_files[name]) for name in sorted(interface_files)]
    return "".join(f"{line}\n" for line in (*general, *filters, *interfaces))


def _config_cb(
    section: Section,
    current: OptionCallback | None,
    general: list[str],
    interface_files: dict[str, list[str]],
    devices: Devices,
) -> OptionCallback | None:
    """babel_config_cb(): the option callback in force for this section's options."""
    if section.type == "general":
        return lambda name, value: _general_option(general, name, value)
    if section.type != "interface":
        return None
    if _get_bool(section, "ignore"):
        return None
    ifname = _get(section, "ifname")
    if not ifname:
        log.warning("Ignoring interface section which miss ifname")
        return current  # the script returns before redefining option_cb
    lines = []
    for device in devices(ifname):
        line = ["default" if device == "default" else f"interface {device}"]
        interface_files[f"interface_{device}.conf"] = line  # `echo ... >` replaces
        lines.append(line)
    return lambda name, value: _interface_option(lines, name, value)


def _general_option(general: list[str], name: str, value: str) -> None:
    if name in _GENERAL_SKIPPED or "_ITEM" in name or "_LENGTH" in name:
        return
    general.append(f"{name.replace('_', '-')} {value}")


def _interface_option(lines: list[list[str]], name: str, value: str) -> None:
    if name == "ifname":
        return
    for line in lines:
        line.append(f"{name.replace('_', '-')} {value}")


def _filter_lines(section: Section, devices: Devices) -> list[str]:
    """babel_filter(): one line, or one per device of its `if`."""
    head = _append_parm("", section, "type", "")
    if _get_bool(section, "local"):
        head = _append(head, "local")
    for option, switch in _SELECTORS:
        head = _append_parm(head, section, option, switch)
    ifname = _get(section, "if")
    heads = [_append(head, f"if {device}") for device in devices(ifname)] if ifname else [head]
    return [_append_parm(line, section, "action", "") for line in heads]


def _append_parm(buffer: str, section: Section, option: str, switch: str) -> str:
    value = _get(section, option)
    return _append(buffer, f"{switch} {value}") if value else buffer


def _append(buffer: str, value: str) -> str:
    """append() in functions.sh: a space between, none before the first word."""
    return f"{buffer} {value}" if buffer else value


def _get(section: Section, option: str) -> str:
    """config_get: a list reads as its items joined by spaces."""
    value = section.options.get(option)
    if value is None:
        return ""
    return value if isinstance(value, str) else " ".join(value)


def _get_bool(section: Section, option: str) -> bool:
    return _get(section, option) in _TRUE
