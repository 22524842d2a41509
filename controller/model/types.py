"""Constrained value types shared by the inventory models.

Every string that can end up in a router's config file is a `ConfigText`:
control characters (newlines included) would split or corrupt a UCI line, and
Unicode's line separators split it for any tool that reads lines as Python does.

Names are matched whole (`fullmatch`): Python's `$` also matches before a final
newline, so `^gw$` would take "gw\n". pydantic's `pattern` runs on Rust's regex,
where `$` is the end of the text (and look-arounds are refused at import).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
)

from controller.model.yamlbuild import shown

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # C0, DEL, C1, line/paragraph
_ULA_RANGE = ipaddress.IPv6Network("fc00::/7")  # RFC 4193 unique local addresses
_ULA_PREFIX = 48  # OpenWrt's globals.ula_prefix
_HOSTNAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_UCI_NAME = re.compile(r"[A-Za-z0-9_]{1,63}")


def _no_control(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise ValueError(
            f"contains the control character {found.group()!r}, which would break the config "
            "file — remove it (newlines and tabs included)"
        )
    return value


def _reason(exc: ValueError) -> str:
    text = str(exc)  # ipaddress quotes the whole value: cut it as `shown` does
    return text if len(text) <= 80 else text[:80] + "…"


def _hostname(value: str) -> str:
    if not _HOSTNAME.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a valid hostname — use 1-63 lowercase letters, digits and "
            "hyphens, not starting or ending with a hyphen"
        )
    return value


def _uci_name(value: str) -> str:
    if not _UCI_NAME.fullmatch(value):
        raise ValueError(
            f"{shown(value)} cannot be a UCI section name — use 1-63 letters, digits and "
            "underscores"
        )
    return value


def _ipv4(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{shown(value)} is not an IPv4 address — write it as a.b.c.d") from None
    return value


def _ipv4_network(value: str) -> str:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{shown(value)} is not an IPv4 network ({_reason(exc)}) — write it as a.b.c.d/len "
            "with the host bits zero"
        ) from None
    return str(net)


def _ipv4_interface(value: str) -> str:
    try:
        ipaddress.IPv4Interface(value)
    except ValueError:
        raise ValueError(
            f"{shown(value)} is not an IPv4 address with prefix — write it as a.b.c.d/len"
        ) from None
    if "/" not in value:
        raise ValueError(f"{shown(value)} has no prefix length — write it as a.b.c.d/len")
    return value


def _ula_48(value: str) -> str:
    try:
        net = ipaddress.IPv6Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{shown(value)} is not an IPv6 network ({_reason(exc)}) — write it as "
            "fdXX:XXXX:XXXX::/48 with the host bits zero"
        ) from None
    if not net.subnet_of(_ULA_RANGE):
        raise ValueError(
            f"{net} is not a unique local prefix (fc00::/7) — use fd followed by 40 random "
            "bits (RFC 4193), or leave ula out to derive one from the network's name"
        )
    if net.prefixlen > _ULA_PREFIX:
        raise ValueError(
            f"{net} is a /{net.prefixlen}, but OpenWrt's ula_prefix is a /48 — write the /48 "
            f"it belongs to, {net.supernet(new_prefix=_ULA_PREFIX)}"
        )
    if net.prefixlen < _ULA_PREFIX:
        raise ValueError(
            f"{net} is a /{net.prefixlen}, but OpenWrt's ula_prefix is a /48 — write one /48 of it"
        )
    return str(net)


ConfigText = Annotated[str, AfterValidator(_no_control)]
Hostname = Annotated[str, AfterValidator(_hostname)]
UciName = Annotated[str, AfterValidator(_uci_name)]
IPv4 = Annotated[str, AfterValidator(_ipv4)]
IPv4Net = Annotated[str, AfterValidator(_ipv4_network)]
IPv4WithPrefix = Annotated[str, AfterValidator(_ipv4_interface)]
Ula48 = Annotated[str, AfterValidator(_ula_48)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Strict(BaseModel):
    """Base of every inventory model: unknown keys are errors (a typo is never ignored)."""

    # strict: `isolate: yes` or `id: '3'` is an error, not a silent coercion.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class EnvSecret(Strict):
    """A secret read from an environment variable when it is needed."""

    env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=255)]

    def __str__(self) -> str:
        return f"{{env: {self.env}}}"


class FileSecret(Strict):
    """A secret read from a file (relative to the inventory directory) when needed."""

    file: Annotated[ConfigText, Field(max_length=4096)]  # PATH_MAX: a longer one never opens

    def __str__(self) -> str:
        return f"{{file: {self.file}}}"


def _secret_shape(value: Any) -> Any:
    if isinstance(value, EnvSecret | FileSecret):
        return value
    if isinstance(value, dict) and len(value) == 1 and ("env" in value or "file" in value):
        return value
    if isinstance(value, dict) and ("env" in value or "file" in value):
        raise ValueError(
            "is a reference with more than one key — write exactly one of {env: NAME} or "
            "{file: PATH}"
        )
    raise ValueError(
        "must be a reference, never the secret itself — write {env: NAME} or {file: PATH} "
        "and keep the secret out of the inventory"
    )


def _secret_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "env" if "env" in value else "file"
    return "env" if isinstance(value, EnvSecret) else "file"


SecretRef = Annotated[
    Annotated[EnvSecret, Tag("env")] | Annotated[FileSecret, Tag("file")],
    Discriminator(_secret_kind),
    BeforeValidator(_secret_shape),
]
