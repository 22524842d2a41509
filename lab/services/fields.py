"""Reading decoded JSON strictly: each reader checks one value and names its path on error.

A path is how an operator finds the value in the file: `dns[0].tamper['chat.test'].mode`.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Collection, Mapping
from typing import TypeVar

from lab.services.errors import ConfigError
from lab.services.names import IPAddress, covers, is_dns_name, normalize_name

_Choice = TypeVar("_Choice", bound=str)


def kind(value: object) -> str:
    """What `value` is, in the words of an error message."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def obj(
    value: object, where: str, keys: Collection[str], required: Collection[str] = ()
) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected an object, got {kind(value)}")
    for key in value:
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected {', '.join(keys)}"
            raise ConfigError(f"{where}: unknown key {key!r} — {hint}")
    for key in required:
        if key not in value:
            raise ConfigError(f"{where}: {key!r} is required")
    return value


def items(obj: Mapping[str, object], key: str, where: str) -> list[tuple[object, str]]:
    path = f"{where}.{key}" if where else key
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list, got {kind(value)}")
    return [(item, f"{path}[{i}]") for i, item in enumerate(value)]


def entries(obj: Mapping[str, object], key: str, where: str) -> list[tuple[str, object]]:
    value = obj.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}.{key}: expected an object, got {kind(value)}")
    return list(value.items())


def string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {kind(value)}")
    return value


def boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {kind(value)}")
    return value


def integer(value: object, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected a whole number, got {kind(value)}")
    if not low <= value <= high:
        raise ConfigError(f"{where}: {value} is out of range — use {low} to {high}")
    return value


def port(obj: Mapping[str, object], where: str, default: int) -> int:
    return integer(obj.get("port", default), f"{where}.port", 1, 65535)


def choice(value: object, where: str, choices: tuple[_Choice, ...]) -> _Choice:
    text = string(value, where)
    for choice in choices:
        if text == choice:
            return choice
    raise ConfigError(f"{where}: {text!r} is not one of {', '.join(choices)}")


def address(value: object, where: str) -> IPAddress:
    text = string(value, where)
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is not an IPv4 or IPv6 address") from None


def addresses(value: object, where: str) -> tuple[IPAddress, ...]:
    if isinstance(value, str):
        return (address(value, where),)
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected an address or a non-empty list of addresses")
    return tuple(address(item, f"{where}[{i}]") for i, item in enumerate(value))


def texts(value: object, where: str) -> tuple[str, ...]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise ConfigError(f"{where}: expected a string or a non-empty list of strings")
    checked = tuple(string(t, f"{where}[{i}]") for i, t in enumerate(texts))
    for i, text in enumerate(checked):
        if len(text.encode("utf-8")) > 255:
            raise ConfigError(f"{where}[{i}]: longer than 255 bytes — split it into strings")
    return checked


def dns_name(
    value: object,
    where: str,
    *,
    root_ok: bool = False,
    wildcard_ok: bool = False,
    zone_of: tuple[str, ...] = (),
) -> str:
    text = string(value, where)
    name = normalize_name(text)
    if name == "." and root_ok:
        return name
    if not is_dns_name(name, wildcard_ok=wildcard_ok):
        raise ConfigError(
            f"{where}: {text!r} is not a DNS name — use letters, digits and hyphens, "
            "labels of 1 to 63 characters separated by dots"
        )
    if zone_of and not any(covers(zone, name) for zone in zone_of):
        raise ConfigError(
            f"{where}: {text!r} is not under any of the zones ({', '.join(zone_of)}) — "
            "add its zone to zones"
        )
    return name
