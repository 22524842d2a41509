"""Does the router have what its new config needs? Checked before anything changes.

A config that names babeld, batman-adv or an encrypted 802.11s mesh on a router
without the package behind it applies "successfully" and leaves the node out
of the mesh. The router's package database says what is installed: opkg's
/usr/lib/opkg/status (OpenWrt up to 24.10), apk's /lib/apk/db/installed (25.12+).
A router with neither is not an OpenWrt userland (the practice lab): nothing is
claimed about it.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.render.tree import RenderedFile
from controller.uci import parse

NO_DATABASE = "?no-package-database"  # what remote.PACKAGES prints without one


@dataclass(frozen=True)
class Need:
    """One capability the config needs, met by any of `packages`."""

    what: str
    packages: tuple[str, ...]


BABELD = Need("babel routing (/etc/config/babeld)", ("babeld",))
BATMAN = Need("batman-adv (proto batadv in /etc/config/network)", ("kmod-batman-adv",))
# 802.11s with SAE needs a full wpad/wpa_supplicant build; wpad-basic-* lacks mesh.
TLS = ("openssl", "wolfssl", "mbedtls")
MESH_WPAD = Need(
    "an 802.11s mesh (mode 'mesh' in /etc/config/wireless)",
    (
        *(f"{base}-{tls}" for base in ("wpad-mesh", "wpad", "wpa-supplicant-mesh") for tls in TLS),
        "wpad",
        "wpad-mesh",
    ),
)
# WPA3 (SAE) access points need at least the basic builds with SAE.
SAE_WPAD = Need(
    "WPA3 (sae encryption in /etc/config/wireless)",
    (*MESH_WPAD.packages, *(f"wpad-basic-{tls}" for tls in TLS), "wpad-basic"),
)


def needs(files: tuple[RenderedFile, ...] | list[RenderedFile]) -> list[Need]:
    """What the rendered config needs installed."""
    by_path = {f.path: f.data for f in files}
    out: list[Need] = []
    if b"config " in by_path.get("etc/config/babeld", b""):
        out.append(BABELD)
    network = by_path.get("etc/config/network")
    if network is not None and _has_option(network, "network", "proto", "batadv"):
        out.append(BATMAN)
    wireless = by_path.get("etc/config/wireless")
    if wireless is not None:
        if _has_option(wireless, "wireless", "mode", "mesh"):
            out.append(MESH_WPAD)
        if _has_option(wireless, "wireless", "encryption", "sae", prefix=True):
            out.append(SAE_WPAD)
    return out


def missing(wanted: list[Need], installed: set[str]) -> list[Need]:
    """The needs no installed package meets; nothing when the router has no database."""
    if NO_DATABASE in installed:
        return []
    return [need for need in wanted if not installed & set(need.packages)]


def refusal(node: str, gaps: list[Need]) -> str:
    lines = "; ".join(f"{need.what}: install {' or '.join(need.packages[:3])}" for need in gaps)
    return (
        f"{node} lacks packages its new config needs, nothing was changed — {lines} "
        "(opkg update && opkg install PACKAGE on the router, or change the inventory)"
    )


def _has_option(
    data: bytes, package: str, option: str, value: str, *, prefix: bool = False
) -> bool:
    parsed = parse(data.decode("utf-8"), package=package, source=f"etc/config/{package}")
    for section in parsed.sections:
        found = section.options.get(option)
        text = found if isinstance(found, str) else None
        if text is not None and (text.startswith(value) if prefix else text == value):
            return True
    return False
