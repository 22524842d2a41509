"""Hostile secret references and values: `check` refuses each, located; render never crashes.

Secret files may only be small regular files inside the inventory directory or
the `.meshkeeper/` directory beside it, never the controller's private key
(controller/secrets.py). Every value is checked for its use (WPA passphrase,
SAE mesh key, password, webhook URL, authorized_keys) by `check` first, and
refused again by `render`, whose error names the reference, never the value.
Also: pinned host keys, inline authorized keys and the agent's port.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from controller.errors import InventoryError, MeshkeeperError, SecretError
from controller.model.load import load_inventory
from controller.model.types import EnvSecret, FileSecret
from controller.push.plan import target_for
from controller.render.context import SecretCache
from controller.render.tree import render_inventory
from controller.secrets import resolve
from tests.conftest import LAB_KEY

ENV = "MESHKEEPER_HOSTILE_SECRET"


def _wire(*fields: bytes) -> str:
    return base64.b64encode(b"".join(struct.pack(">I", len(f)) + f for f in fields)).decode()


ED25519_BLOB = _wire(b"ssh-ed25519", b"\x07" * 32)
RSA_BLOB = _wire(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xc5" * 256)
GOOD_ED25519 = f"ssh-ed25519 {ED25519_BLOB} good@test"
GOOD_RSA = f"ssh-rsa {RSA_BLOB} good-rsa@test"


@cache
def _real_keys() -> tuple[str, ...]:
    """Public keys made by a real library, as `ssh-keygen` writes them."""
    keys: list[ed25519.Ed25519PublicKey | rsa.RSAPublicKey | ec.EllipticCurvePublicKey] = [
        ed25519.Ed25519PrivateKey.generate().public_key(),
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(),
        ec.generate_private_key(ec.SECP256R1()).public_key(),
        ec.generate_private_key(ec.SECP384R1()).public_key(),
    ]
    return tuple(
        k.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        for k in keys
    )


@pytest.fixture
def inventory(example_copy: Path) -> Path:
    """The example, with lab key files that are well-formed keys, and a NOC that can
    check agents serving TLS (the agent-password case gives one TLS)."""
    lab = example_copy.parent / ".meshkeeper" / "lab"
    (lab / "controller_ed25519.pub").write_text(f"{LAB_KEY}\n", encoding="utf-8")
    (lab / "controller_rsa.pub").write_text(f"{GOOD_RSA}\n", encoding="utf-8")
    network = example_copy / "network.yaml"
    text = network.read_text(encoding="utf-8")
    network.write_text(
        text.replace(
            "  entry: gw-market\n", "  entry: gw-market\n  scrape_tls: {ca_file: /etc/ca.crt}\n"
        ),
        encoding="utf-8",
    )
    return example_copy


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Fail instead of hanging (a FIFO opened for reading blocks for a writer)."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError("reading the secret hung")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _problems(folder: Path) -> list[str]:
    with _deadline(10), pytest.raises(InventoryError) as caught:
        load_inventory(folder, resolve_secrets=True)
    return [str(problem) for problem in caught.value.problems]


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _location(path: Path, marker: str, key: str) -> str:
    """FILE:LINE:COL of `key:` on the line holding `marker`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if marker in line:
            return f"{path}:{number}:{line.index(f'{key}:') + 1}"
    raise AssertionError(f"{marker!r} not in {path}")


PUBLIC_WORDS = {"http", "https", "ssh", "ed25519", "test", "good"}  # key types, schemes


def _fragments(value: str) -> list[str]:
    """Pieces of a secret that must never appear in a message."""
    return [p for p in re.findall(r"[^\W_]{4,}", value) if p.lower() not in PUBLIC_WORDS]


def _assert_secret_free(message: str, value: str) -> None:
    shown = message.split(": ", 1)[-1]  # after the location, whose path is the test's
    for piece in _fragments(value):
        assert piece not in shown, f"message shows the secret ({piece!r}): {message}"


# ------------------------------------------------------------------ where secret files may be


def _mesh_key_to(folder: Path, ref: str) -> str:
    network = folder / "network.yaml"
    _replace(network, "key: {file: secrets/mesh.key}", f"key: {ref}")
    return f"{_location(network, ref, 'key')}: mesh.key: "


@pytest.mark.parametrize(
    "target",
    [
        "/etc/shadow",
        "/etc/passwd",
        "../../../../../../etc/passwd",
        "secrets/../../../../../../../etc/hostname",
        "~/.ssh/id_ed25519",
        "/dev/zero",
        "/proc/self/environ",
        "../nodes.yaml",  # beside the inventory, not in it
    ],
)
def test_file_secret_outside_the_allowed_directories_is_refused(
    inventory: Path, target: str
) -> None:
    where = _mesh_key_to(inventory, f"{{file: {target}}}")
    (inventory.parent / "nodes.yaml").write_text("not: secret\n")
    problems = _problems(inventory)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{where}{{file: {target}}}: "), problems
    assert "outside the inventory directory" in problems[0]
    assert str(inventory.resolve()) in problems[0]  # says where secrets may live
    assert str(inventory.parent.resolve() / ".meshkeeper") in problems[0]


def test_symlink_out_of_the_inventory_is_refused(inventory: Path) -> None:
    (inventory / "secrets" / "shadow").symlink_to("/etc/passwd")
    (inventory / "secrets" / "zero").symlink_to("/dev/zero")
    where = _mesh_key_to(inventory, "{file: secrets/shadow}")
    _replace(inventory / "nodes.yaml", "{file: secrets/staff-wifi.key}", "{file: secrets/zero}")
    problems = _problems(inventory)
    assert len(problems) == 2, problems
    assert any(p.startswith(where) and "/etc/passwd" in p for p in problems), problems
    assert all("outside the inventory directory" in p for p in problems), problems


def test_symlink_inside_the_allowed_directories_is_followed(inventory: Path) -> None:
    (inventory / "secrets" / "mesh.link").symlink_to("mesh.key")
    _mesh_key_to(inventory, "{file: secrets/mesh.link}")
    load_inventory(inventory, resolve_secrets=True)


def test_absolute_path_inside_the_inventory_is_allowed(inventory: Path) -> None:
    _mesh_key_to(inventory, f"{{file: {inventory / 'secrets' / 'mesh.key'}}}")
    load_inventory(inventory, resolve_secrets=True)


def test_lab_public_keys_beside_the_inventory_stay_allowed(inventory: Path) -> None:
    inv = load_inventory(inventory, resolve_secrets=True)
    ref = FileSecret(file="../.meshkeeper/lab/controller_ed25519.pub")
    assert SecretCache(inv).get(ref).reveal() == LAB_KEY


@pytest.mark.parametrize("content", ["just-some-bytes-1234", "-----BEGIN OPENSSH PRIVATE KEY-----"])
def test_controller_login_key_is_refused(inventory: Path, content: str) -> None:
    """ssh.key_file is the controller's private key: never a secret, by any name."""
    private = inventory.parent / ".meshkeeper" / "lab" / "controller_ed25519"
    private.write_text(content + "\n")
    os.link(private, inventory / "secrets" / "hardlink.key")
    (inventory / "secrets" / "symlink.key").symlink_to(private)
    for ref in (
        "../.meshkeeper/lab/controller_ed25519",
        "secrets/hardlink.key",
        "secrets/symlink.key",
    ):
        network = inventory / "network.yaml"
        original = network.read_text()
        where = _mesh_key_to(inventory, f"{{file: {ref}}}")
        problems = _problems(inventory)
        assert len(problems) == 1, problems
        assert problems[0].startswith(where), problems
        assert "private key" in problems[0], problems
        _assert_secret_free(problems[0], content)
        network.write_text(original)


def test_any_private_key_is_refused(inventory: Path) -> None:
    pem = (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAtopSecretBits\n"
        "-----END RSA PRIVATE KEY-----\n"
    )
    (inventory / "secrets" / "id_rsa").write_text(pem)
    where = _mesh_key_to(inventory, "{file: secrets/id_rsa}")
    problems = _problems(inventory)
    assert len(problems) == 1 and problems[0].startswith(where), problems
    assert "private key" in problems[0]
    _assert_secret_free(problems[0], pem)


def _special_file(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
        listener.close()
    elif kind == "directory":
        path.mkdir()
    else:  # a symbolic link to itself
        path.symlink_to(path.name)


@pytest.mark.parametrize("kind", ["fifo", "socket", "directory", "link-loop"])
def test_special_file_is_refused_without_hanging(inventory: Path, kind: str) -> None:
    _special_file(inventory / "secrets" / "special", kind)
    where = _mesh_key_to(inventory, "{file: secrets/special}")
    problems = _problems(inventory)
    assert len(problems) == 1 and problems[0].startswith(where), problems
    assert "not a regular file" in problems[0]


def test_oversized_file_is_refused(inventory: Path) -> None:
    (inventory / "secrets" / "huge").write_bytes(b"a" * (64 * 1024 + 1))
    where = _mesh_key_to(inventory, "{file: secrets/huge}")
    problems = _problems(inventory)
    assert len(problems) == 1 and problems[0].startswith(where), problems
    assert "64 KiB" in problems[0]


@pytest.mark.parametrize(
    "target",
    ["/etc/passwd", "../../../../../../etc/passwd", "secrets/fifo", "secrets", "/dev/zero"],
)
def test_resolve_refuses_what_check_refuses(inventory: Path, target: str) -> None:
    """render and push resolve through the same rules, whoever calls them."""
    os.mkfifo(inventory / "secrets" / "fifo")
    with _deadline(10), pytest.raises(SecretError) as caught:
        resolve(FileSecret(file=target), inventory)
    assert str(caught.value).startswith(f"{{file: {target}}}: ")


def test_render_refuses_the_login_key_without_check(inventory: Path) -> None:
    """Loaded without check_secrets (as `check --no-secrets` does), render still refuses."""
    inv = load_inventory(inventory, resolve_secrets=False)
    (inventory.parent / ".meshkeeper" / "lab" / "controller_ed25519").write_text("login-key\n")
    (inventory / "secrets" / "staff-wifi.key").unlink()
    (inventory / "secrets" / "staff-wifi.key").symlink_to(
        inventory.parent / ".meshkeeper" / "lab" / "controller_ed25519"
    )
    with pytest.raises(MeshkeeperError) as caught:
        render_inventory(inv)
    assert "private key" in str(caught.value)
    assert "login-key" not in str(caught.value)


# ------------------------------------------------------------------ secret values, by use


@dataclass(frozen=True)
class Use:
    """Where one kind of secret goes in the example, and which values it takes."""

    name: str
    file: str
    old: str  # the text in `file` replaced by `new` (REF stands for the reference)
    new: str
    key: str  # the YAML key the problem is located at
    field: str
    rendered: bool = True  # webhooks are not rendered onto routers


COMMON_BAD = {
    "newline": "Sekr3tPart\nOtherHalf",
    "carriage-return": "Sekr3tPart\rOtherHalf",
    "nul": "Sekr3tPart\x00OtherHalf",
    "soh": "Sekr3tPart\x01OtherHalf",
    "del": "Sekr3tPart\x7fOtherHalf",
    "line-separator": "Sekr3tPart\u2028OtherHalf",
    "trailing-crlf": "Sekr3tPartOtherHalf\r",
    "empty": "",
    "whitespace": "          ",
    "tab": "Sekr3tPart\tOtherHalf",
}
WPA_BAD = {
    **COMMON_BAD,
    "too-short": "Sekr3t7",
    "too-long": "Sekr3tPassphrase" * 4 + "x",
    "non-ascii": "pässwörd1",
    "emoji": "Sekr3tPass📶",
    "leading-space": " Sekr3tPassphrase",
}
WPA_OK = {
    "8-ascii": "Sekr3t!8",
    "63-ascii": ("Sekr3t Passphras" * 4)[:63],
    "quotes": 'it\'s a "pass" $(x) `y`',
}
HEX64 = "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789"
PASSWORD_BAD = {**COMMON_BAD, "too-long": "Sekr3tPassword" * 19, "leading-space": " Sekr3tPass"}
PASSWORD_OK = {"short": "Sekr3t", "non-ascii": "pässwörd1", "quotes": "a'b\"c$(d)"}
WEBHOOK_BAD = {
    **COMMON_BAD,
    "ftp": "ftp://hooks.example.org/alerts",
    "no-scheme": "hooks.example.org/alerts",
    "inner-space": "https://hooks.example.org/alerts now",
    "no-host": "https:///alerts",
    "javascript": "javascript:alert(1)",
}
WEBHOOK_OK = {
    "https": "https://hooks.example.org/alerts?token=Sekr3tToken",
    "http": "http://10.0.0.1:9099/a",
}
KEYS_BAD = {
    **{k: v for k, v in COMMON_BAD.items() if k != "whitespace"},
    "whitespace": "   \n  ",
    "not-a-key": "Sekr3tPart OtherHalf",
    "key-then-cr": f"{GOOD_ED25519}\r",
    "key-with-nul": f"{GOOD_ED25519}\x00",
    "bad-base64": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI!!!!",
    "type-mismatch": f"ssh-rsa {ED25519_BLOB} mismatch",
    "unknown-type": f"ssh-foo {ED25519_BLOB}",
    "cut-short": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAcH",
    "no-blob": "ssh-ed25519",
    "private-key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n",
    "known-hosts-line": f"10.31.0.1 {GOOD_ED25519}",
    "unknown-option": f'from="10.0.0.1" {GOOD_ED25519}',
    "bom": f"\ufeff{GOOD_ED25519}",
}

USES = {
    "mesh-key": Use(
        "mesh-key",
        "network.yaml",
        "key: {file: secrets/mesh.key}",
        "key: REF",
        "key",
        "mesh.key",
    ),
    "psk2": Use(
        "psk2",
        "nodes.yaml",
        "key: {file: secrets/staff-wifi.key}}",
        "key: REF}",
        "key",
        "nodes.gw-market.access_points[1].key",
    ),
    "sae": Use(
        "sae",
        "nodes.yaml",
        "encryption: psk2,\n         key: {file: secrets/staff-wifi.key}}",
        "encryption: sae,\n         key: REF}",
        "key",
        "nodes.gw-market.access_points[1].key",
    ),
    "sae-mixed": Use(
        "sae-mixed",
        "nodes.yaml",
        "encryption: psk2,\n         key: {file: secrets/staff-wifi.key}}",
        "encryption: sae-mixed,\n         key: REF}",
        "key",
        "nodes.gw-market.access_points[1].key",
    ),
    "pppoe": Use(
        "pppoe",
        "nodes.yaml",
        "{isp: isp-fibre, proto: dhcp, port: wan}",
        "{isp: isp-fibre, proto: pppoe, port: wan, username: market, password: REF}",
        "password",
        "nodes.gw-market.uplinks[0].password",
    ),
    "agent-password": Use(
        "agent-password",
        "nodes.yaml",
        "    id: 1\n",
        "    id: 1\n    agent: {tls: {cert: /etc/a.crt, key: /etc/a.key},\n"
        "            basic_auth: {username: prometheus, password: REF}}\n",
        "password",
        "nodes.gw-market.agent.basic_auth.password",
    ),
    "webhook": Use(
        "webhook",
        "network.yaml",
        "webhook: {file: secrets/responders-webhook.url}",
        "webhook: REF",
        "webhook",
        "noc.receivers.responders.webhook",
        rendered=False,
    ),
    "authorized-keys": Use(
        "authorized-keys",
        "defaults.yaml",
        "{file: ../.meshkeeper/lab/controller_rsa.pub}",
        "REF",
        "",
        "defaults.ssh.authorized_keys[1]",
    ),
}

BAD = {
    "mesh-key": WPA_BAD | {"hex64": HEX64},
    "psk2": WPA_BAD
    | {"non-hex-64": "g" * 64, "hex65": HEX64 + "a", "hex-63-plus-g": HEX64[:63] + "g"},
    "sae": WPA_BAD | {"hex64": HEX64},
    "sae-mixed": WPA_BAD | {"hex64": HEX64},
    "pppoe": PASSWORD_BAD,
    "agent-password": PASSWORD_BAD,
    "webhook": WEBHOOK_BAD,
    "authorized-keys": KEYS_BAD,
}
GOOD = {
    "mesh-key": WPA_OK,
    "psk2": WPA_OK | {"hex64": HEX64},
    "sae": WPA_OK,
    "sae-mixed": WPA_OK,
    "pppoe": PASSWORD_OK,
    "agent-password": PASSWORD_OK,
    "webhook": WEBHOOK_OK,
    "authorized-keys": {
        "one": GOOD_ED25519,
        "several": f"# staff\n{GOOD_ED25519}\n\n{GOOD_RSA}\n",
        "options": f'no-pty,command="uptime" {GOOD_ED25519}',
        "quoted-options": f'command="echo \\"a b\\"",permitopen="h:22",restrict {GOOD_ED25519}',
        "real": "\n".join(_real_keys()),
    },
}


def _cases(
    table: dict[str, dict[str, str]], *, rendered_only: bool = False
) -> list[pytest.ParameterSet]:
    out = []
    for use, values in table.items():
        if rendered_only and not USES[use].rendered:
            continue
        for label, value in values.items():
            for source in ("file", "env"):
                if source == "env" and (use == "authorized-keys" or "\x00" in value):
                    continue  # authorized_keys take files only; no NUL fits in a variable
                out.append(pytest.param(use, source, value, id=f"{use}-{source}-{label}"))
    return out


def _use_secret(
    folder: Path, use: Use, source: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """Point `use` at `value`; returns (the reference, where a problem is located)."""
    if source == "env":
        monkeypatch.setenv(ENV, value)
        ref = f"{{env: {ENV}}}"
    else:
        (folder / "secrets" / "hostile").write_bytes(value.encode("utf-8"))
        ref = "{file: secrets/hostile}"
    path = folder / use.file
    _replace(path, use.old, use.new.replace("REF", ref))
    if use.key:
        location = _location(path, ref, use.key)
    else:
        number = next(n for n, line in enumerate(path.read_text().splitlines(), 1) if ref in line)
        location = f"{path}:{number}:{path.read_text().splitlines()[number - 1].index('{') + 1}"
    return ref, f"{location}: {use.field}: "


@pytest.mark.parametrize(("use", "source", "value"), _cases(BAD))
def test_check_refuses_a_hostile_secret_value(
    inventory: Path, use: str, source: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, where = _use_secret(inventory, USES[use], source, value, monkeypatch)
    problems = _problems(inventory)
    assert len(problems) == 1, problems
    assert problems[0].startswith(where), problems
    _assert_secret_free(problems[0], value)


@pytest.mark.parametrize(("use", "source", "value"), _cases(GOOD))
def test_check_accepts_a_good_secret_value(
    inventory: Path, use: str, source: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_secret(inventory, USES[use], source, value, monkeypatch)
    inv = load_inventory(inventory, resolve_secrets=True)
    if USES[use].rendered:
        render_inventory(inv)


@pytest.mark.parametrize(("use", "source", "value"), _cases(BAD, rendered_only=True))
def test_render_refuses_a_hostile_secret_value_by_reference(
    inventory: Path, use: str, source: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loaded without check_secrets, render itself refuses: a located-by-reference
    MeshkeeperError, never an internal error, never the value."""
    ref, _ = _use_secret(inventory, USES[use], source, value, monkeypatch)
    inv = load_inventory(inventory, resolve_secrets=False)
    with pytest.raises(MeshkeeperError) as caught:
        render_inventory(inv)
    assert ref in str(caught.value)
    _assert_secret_free(str(caught.value), value)


def test_editor_newline_at_the_end_of_a_file_is_not_part_of_the_secret(inventory: Path) -> None:
    (inventory / "secrets" / "hostile").write_text("Sekr3t!8\n")
    _mesh_key_to(inventory, "{file: secrets/hostile}")
    inv = load_inventory(inventory, resolve_secrets=True)
    assert inv.mesh.key is not None
    assert SecretCache(inv).get(inv.mesh.key).reveal() == "Sekr3t!8"


def test_unreadable_text_is_refused_without_the_bytes(inventory: Path) -> None:
    (inventory / "secrets" / "hostile").write_bytes(b"Sekr3t\xff\xfeOtherHalf")
    where = _mesh_key_to(inventory, "{file: secrets/hostile}")
    problems = _problems(inventory)
    assert len(problems) == 1 and problems[0].startswith(where), problems
    _assert_secret_free(problems[0], "Sekr3t OtherHalf")


def test_env_reference_in_message_but_not_its_value(
    inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "Sekr3tPart\nOtherHalf")
    inv = load_inventory(inventory, resolve_secrets=False)
    with pytest.raises(SecretError) as caught:
        SecretCache(inv).text(EnvSecret(env=ENV), "sae")
    assert str(caught.value).startswith(f"{{env: {ENV}}}: ")
    _assert_secret_free(str(caught.value), "Sekr3tPart\nOtherHalf")


# ------------------------------------------------------------------ host keys, inline keys, port


def _node_ssh(folder: Path, settings: str) -> str:
    """Give gw-school `ssh: {...}`; returns the line's marker."""
    nodes = folder / "nodes.yaml"
    _replace(nodes, "    id: 2\n", f"    id: 2\n    ssh: {{{settings}}}\n")
    return settings


HOST_KEY_BAD = {
    "not-base64": "ssh-ed25519 !!!notbase64!!!",
    "unknown-type": f"ssh-foo {ED25519_BLOB}",
    "type-mismatch": f"ssh-rsa {ED25519_BLOB}",
    "cut-short": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAcH",
    "no-type": f"hello {ED25519_BLOB}",
    "sk-type-push-cannot-use": f"sk-ssh-ed25519@openssh.com {ED25519_BLOB}",
    "padding-missing": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPaddingMissing000",
}


@pytest.mark.parametrize("text", HOST_KEY_BAD.values(), ids=HOST_KEY_BAD.keys())
def test_invalid_pinned_host_key_is_a_located_check_error(inventory: Path, text: str) -> None:
    marker = _node_ssh(inventory, f"host_key: '{text}'")
    nodes = inventory / "nodes.yaml"
    problems = _problems(inventory)
    assert problems == [problems[0]] and problems[0].startswith(
        f"{_location(nodes, marker, 'host_key')}: nodes.gw-school.ssh.host_key: "
    ), problems


@pytest.mark.parametrize(
    "text",
    [GOOD_ED25519, f"10.31.0.2 {GOOD_ED25519}", *_real_keys()],
    # ids without the keys: they are made anew in each process (pytest-xdist compares ids)
    ids=["fixed", "with-host", "ed25519", "rsa", "p256", "p384"],
)
def test_valid_pinned_host_key_passes_check_and_push_planning(inventory: Path, text: str) -> None:
    _node_ssh(inventory, f"host_key: '{text}'")
    inv = load_inventory(inventory, resolve_secrets=True)
    assert target_for(inv, "gw-school").pinned is not None


INLINE_BAD = {
    "not-a-key": "not a key at all",
    "type-only": "ssh-ed25519 ",
    "bad-base64": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5!!!! x",
    "type-mismatch": f"ssh-rsa {ED25519_BLOB} x",
    "unknown-type": f"ssh-foo {ED25519_BLOB} x",
    "cut-short": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAcH x",
    "private-key-header": "-----BEGIN OPENSSH PRIVATE KEY-----",
    "known-hosts-line": f"10.31.0.1 {GOOD_ED25519}",
    "unknown-option": f"agent-forwarding {GOOD_ED25519}",
}


@pytest.mark.parametrize("text", INLINE_BAD.values(), ids=INLINE_BAD.keys())
def test_inline_authorized_key_is_validated_like_a_key_file(inventory: Path, text: str) -> None:
    marker = _node_ssh(inventory, f"authorized_keys: ['{LAB_KEY}', '{text}']")
    nodes = inventory / "nodes.yaml"
    number, line = next(
        (n, line) for n, line in enumerate(nodes.read_text().splitlines(), 1) if marker in line
    )
    where = f"{nodes}:{number}:{line.index(repr(text)) + 1}"  # the list item itself
    problems = _problems(inventory)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{where}: nodes.gw-school.ssh.authorized_keys[1]: "), problems


def test_inline_authorized_keys_render_as_given(inventory: Path) -> None:
    real = _real_keys()
    quoted = ", ".join(f"'{k}'" for k in [LAB_KEY, *real])
    _node_ssh(inventory, f"authorized_keys: [{quoted}]")
    files = render_inventory(load_inventory(inventory, resolve_secrets=True))["gw-school"]
    keys = next(f.data for f in files if f.path == "etc/dropbear/authorized_keys").decode()
    assert keys == "".join(f"{k}\n" for k in [LAB_KEY, *real])


@pytest.mark.parametrize("port", [22, 53, 67, 80, 443, 123, 6696, 2222, 1000])
def test_agent_port_that_collides_or_is_reserved_is_refused(inventory: Path, port: int) -> None:
    marker = _node_ssh(inventory, "port: 2222")
    nodes = inventory / "nodes.yaml"
    _replace(
        nodes, f"    ssh: {{{marker}}}\n", f"    ssh: {{{marker}}}\n    agent: {{port: {port}}}\n"
    )
    problems = _problems(inventory)
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        f"{_location(nodes, f'agent: {{port: {port}}}', 'port')}: nodes.gw-school.agent.port: "
    ), problems


def test_agent_port_in_defaults_is_reported_once_for_every_node(inventory: Path) -> None:
    defaults = inventory / "defaults.yaml"
    _replace(defaults, "    port: 9110 ", "    port: 22   ")
    problems = _problems(inventory)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{_location(defaults, 'port: 22   ', 'port')}: "), problems
    assert "gw-market" in problems[0] and "SSH" in problems[0]


def test_agent_port_zero_is_refused_located(inventory: Path) -> None:
    nodes = inventory / "nodes.yaml"
    _replace(nodes, "    id: 2\n", "    id: 2\n    agent: {port: 0}\n")
    problems = _problems(inventory)
    assert len(problems) == 1, problems
    assert problems[0].startswith(_location(nodes, "agent: {port: 0}", "port")), problems


@pytest.mark.parametrize("port", [9110, 9100, 8080, 65535])
def test_agent_port_free_is_accepted(inventory: Path, port: int) -> None:
    _replace(inventory / "defaults.yaml", "    port: 9110 ", f"    port: {port} ")
    load_inventory(inventory, resolve_secrets=True)


# ------------------------------------------------------------------ a fresh clone


def test_missing_lab_keys_name_the_command_that_makes_them(inventory: Path) -> None:
    for name in ("controller_ed25519.pub", "controller_rsa.pub"):
        (inventory.parent / ".meshkeeper" / "lab" / name).unlink()
    defaults = inventory / "defaults.yaml"
    problems = _problems(inventory)
    assert len(problems) == 2, problems
    for problem, name in zip(
        problems, ("controller_ed25519.pub", "controller_rsa.pub"), strict=True
    ):
        assert problem.startswith(
            f"{_location(defaults, name + '}', 'file').rsplit(':', 1)[0]}:"
        ), problem
        assert f"../.meshkeeper/lab/{name}" in problem
        assert "`meshkeeper lab keys`" in problem, problem


def test_missing_lab_dir_names_the_command_too(inventory: Path) -> None:
    import shutil

    shutil.rmtree(inventory.parent / ".meshkeeper")
    problems = _problems(inventory)
    assert len(problems) == 2, problems
    assert all("`meshkeeper lab keys`" in p for p in problems), problems


def test_other_missing_key_files_do_not_mention_the_lab(inventory: Path) -> None:
    _replace(
        inventory / "defaults.yaml",
        "{file: ../.meshkeeper/lab/controller_rsa.pub}",
        "{file: secrets/staff.pub}",
    )
    problems = _problems(inventory)
    assert len(problems) == 1, problems
    assert "meshkeeper lab keys" not in problems[0]
    assert "ssh-keygen" in problems[0]
