"""The transport layer against real SSH servers on 127.0.0.1.

Servers (tests/unit/sshd_fixture.py): Debian's OpenSSH sshd with no SFTP
subsystem (like stock OpenWrt); a second sshd configured like OpenWrt 19.07's
dropbear 2019.78 (ssh-rsa only); Debian's dropbear when it is installed.
Nothing leaves the loopback interface; every server is stopped at module end.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest

from controller.errors import MeshkeeperError
from controller.transport import (
    AuthFailed,
    HostKeyChanged,
    HostKeyUnknown,
    KeyFileUnusable,
    KnownHosts,
    LegacyAlgorithmRequired,
    OpenSshTransport,
    ParamikoTransport,
    PublicKey,
    RemoteCommandFailed,
    SshTarget,
    Timeout,
    Transport,
    Unreachable,
    connect,
)
from controller.transport.kexinit import offered_host_key_algorithms, parse_host_key_algorithms
from tests.unit import sshd_fixture as fx

pytestmark = pytest.mark.skipif(
    not Path(fx.SSHD).exists() or shutil.which("ssh-keygen") is None,
    reason="needs Debian's openssh-server and openssh-client",
)

USER = fx.current_user()
TRICKY = b'it\'s "quoted"\n$(touch /tmp/pwned) `id` \\ \n\ttab\r\nno final newline'


# -- servers and keys ------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """User keys: the three kinds the router may accept, and one it does not know."""
    directory = tmp_path_factory.mktemp("keys")
    made = {}
    for name, kind in (
        ("ed25519", "ed25519"),
        ("ecdsa", "ecdsa"),
        ("rsa", "rsa"),
        ("legacy_rsa", "rsa"),
        ("stranger", "ed25519"),
    ):
        fx.keygen(directory / f"id_{name}", kind)
        made[name] = directory / f"id_{name}"
    return made


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Path]) -> Iterator[fx.SshServer]:
    authorized = [fx.public_key(keys[k]) for k in ("ed25519", "ecdsa", "rsa")]
    server = fx.start_sshd(tmp_path_factory.mktemp("sshd"), authorized)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def legacy_sshd(
    tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Path]
) -> Iterator[fx.SshServer]:
    """Configured like OpenWrt 19.07's dropbear: ssh-rsa host key and signatures only."""
    authorized = [fx.public_key(keys["legacy_rsa"])]
    server = fx.start_sshd(tmp_path_factory.mktemp("legacy"), authorized, legacy=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dropbear(
    tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Path]
) -> Iterator[fx.SshServer]:
    why = fx.dropbear_usable()
    if why is not None:
        pytest.skip(why)
    server = fx.start_dropbear(
        tmp_path_factory.mktemp("dropbear"), [fx.public_key(keys["ed25519"])]
    )
    yield server
    server.stop()


@pytest.fixture
def known_hosts(tmp_path: Path) -> KnownHosts:
    return KnownHosts(tmp_path / ".meshkeeper" / "known_hosts")


Factory = Callable[..., SshTarget]


@pytest.fixture
def target(keys: dict[str, Path]) -> Factory:
    def make(server: fx.SshServer, key: str = "ed25519", **changes: Any) -> SshTarget:
        node = SshTarget(
            node="hilltop",
            host=fx.LOOPBACK,
            port=server.port,
            user=USER,
            key_file=keys[key],
            legacy_rsa=server.kind == "sshd-legacy",
        )
        return dataclasses.replace(node, **changes)

    return make


@pytest.fixture
def trusted(known_hosts: KnownHosts) -> Callable[[fx.SshServer], KnownHosts]:
    """known_hosts that already holds the server's real key."""

    def trust(server: fx.SshServer) -> KnownHosts:
        known_hosts.add(fx.LOOPBACK, server.port, PublicKey.parse(server.host_key))
        return known_hosts

    return trust


def fingerprint(public: str) -> str:
    return PublicKey.parse(public).fingerprint


def ssh_keygen_fingerprint(public: str, tmp_path: Path) -> str:
    """OpenSSH's own rendering of a fingerprint, to check ours against."""
    file = tmp_path / "key.pub"
    file.write_text(public + "\n", encoding="ascii")
    out = subprocess.run(["ssh-keygen", "-lf", str(file)], capture_output=True, text=True)
    return out.stdout.split()[1]


# -- run and put over paramiko ----------------------------------------------


def test_fingerprint_matches_ssh_keygen(sshd: fx.SshServer, tmp_path: Path) -> None:
    assert fingerprint(sshd.host_key) == ssh_keygen_fingerprint(sshd.host_key, tmp_path)


def test_run_returns_stdout_stderr_and_exit_status(
    sshd: fx.SshServer, target: Factory, trusted: Callable[[fx.SshServer], KnownHosts]
) -> None:
    with ParamikoTransport(target(sshd), trusted(sshd)) as ssh:
        assert isinstance(ssh, Transport)
        result = ssh.run("printf out; printf err >&2; exit 4")
    assert (result.exit_status, result.stdout, result.stderr) == (4, b"out", b"err")
    assert not result.ok


def test_stdin_bytes_arrive_unchanged(
    sshd: fx.SshServer, target: Factory, trusted: Callable[[fx.SshServer], KnownHosts]
) -> None:
    data = bytes(range(256)) + TRICKY
    with ParamikoTransport(target(sshd), trusted(sshd)) as ssh:
        assert ssh.run("cat", stdin=data).stdout == data


def test_large_stdout_and_stderr_do_not_deadlock(
    sshd: fx.SshServer, target: Factory, trusted: Callable[[fx.SshServer], KnownHosts]
) -> None:
    # 3 MB on stderr is more than the channel window (2 MB): both are drained.
    with ParamikoTransport(target(sshd), trusted(sshd)) as ssh:
        result = ssh.run("head -c 3000000 /dev/zero >&2; head -c 3000000 /dev/zero; echo done")
    assert len(result.stderr) == 3_000_000
    assert result.stdout.endswith(b"done\n") and len(result.stdout) == 3_000_005


def test_one_connection_carries_every_command(
    sshd: fx.SshServer, target: Factory, trusted: Callable[[fx.SshServer], KnownHosts]
) -> None:
    with ParamikoTransport(target(sshd), trusted(sshd)) as ssh:
        ports = {ssh.run("echo $SSH_CLIENT").stdout.split()[1] for _ in range(5)}
    assert len(ports) == 1


PAYLOADS = {
    "binary": bytes(range(256)) * 4,
    "1MiB": random.Random(7).randbytes(1 << 20),  # noqa: S311 - test data, not a secret
    "tricky": TRICKY,
    "empty": b"",
}


@pytest.mark.parametrize("name", PAYLOADS)
def test_put_writes_exact_bytes(
    name: str,
    sshd: fx.SshServer,
    target: Factory,
    trusted: Callable[[fx.SshServer], KnownHosts],
    tmp_path: Path,
) -> None:
    data = PAYLOADS[name]
    path = tmp_path / "network"
    with ParamikoTransport(target(sshd), trusted(sshd)) as ssh:
        ssh.put(str(path), data)
        assert ssh.run(f"cat {path}").stdout == data
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_put_path_is_quoted_not_interpreted(
    sshd: fx.SshServer,
    target: Factory,
    trusted: Callable[[fx.SshServer], KnownHosts],
    tmp_path: Path,
) -> None:
    name = "it's a $(touch pwned) `touch pwned2`; file"
    with ParamikoTransport(target(sshd), trusted(sshd)) as ssh:
        ssh.put(str(tmp_path / name), b"x")
    assert (tmp_path / name).read_bytes() == b"x"
    assert sorted(p.name for p in tmp_path.iterdir() if "pwned" in p.name) == [name]


def test_put_failure_raises_with_status_and_stderr(
    sshd: fx.SshServer,
    target: Factory,
    trusted: Callable[[fx.SshServer], KnownHosts],
    tmp_path: Path,
) -> None:
    with (
        ParamikoTransport(target(sshd), trusted(sshd)) as ssh,
        pytest.raises(RemoteCommandFailed) as caught,
    ):
        ssh.put(str(tmp_path / "no-such-dir" / "wireless"), b"x")
    assert caught.value.exit_status == 1
    assert b"No such file or directory" in caught.value.stderr_tail
    assert str(caught.value).startswith("node hilltop: `cat > ")


def test_remote_failure_is_a_result_or_an_error_on_request(
    sshd: fx.SshServer, target: Factory, trusted: Callable[[fx.SshServer], KnownHosts]
) -> None:
    with ParamikoTransport(target(sshd), trusted(sshd)) as ssh:
        assert ssh.run("exit 3").exit_status == 3
        with pytest.raises(RemoteCommandFailed) as caught:
            ssh.run_checked("echo broken config >&2; exit 3")
    assert caught.value.exit_status == 3
    assert caught.value.stderr_tail == b"broken config\n"
    assert isinstance(caught.value, MeshkeeperError)
    assert "node hilltop" in str(caught.value) and "exited 3: broken config" in str(caught.value)


def test_no_sftp_on_the_fixture_so_sftpclient_fails(
    sshd: fx.SshServer, keys: dict[str, Path]
) -> None:
    """Why put() uses `cat >`: stock OpenWrt, like this server, has no SFTP."""
    client = paramiko.SSHClient()
    key = PublicKey.parse(sshd.host_key)
    client.get_host_keys().add(
        f"[{fx.LOOPBACK}]:{sshd.port}", key.key_type, paramiko.Ed25519Key(data=key.blob)
    )
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            fx.LOOPBACK, sshd.port, USER, key_filename=str(keys["ed25519"]),
            allow_agent=False, look_for_keys=False,
        )  # fmt: skip
        with pytest.raises(paramiko.SSHException) as caught:
            client.open_sftp()
        print(f"\n  paramiko SFTPClient against a server without SFTP: {caught.value!r}")
    finally:
        client.close()


@pytest.mark.parametrize("key", ["ed25519", "ecdsa", "rsa"])
def test_user_key_types(
    key: str, sshd: fx.SshServer, target: Factory, trusted: Callable[[fx.SshServer], KnownHosts]
) -> None:
    with ParamikoTransport(target(sshd, key), trusted(sshd)) as ssh:
        assert ssh.run("echo ok").stdout == b"ok\n"


def test_timeout_leaves_the_connection_usable(
    sshd: fx.SshServer, target: Factory, trusted: Callable[[fx.SshServer], KnownHosts]
) -> None:
    with ParamikoTransport(target(sshd), trusted(sshd)) as ssh:
        before = ssh.run("echo $SSH_CLIENT").stdout.split()[1]
        started = time.monotonic()
        with pytest.raises(Timeout) as caught:
            ssh.run("sleep 5", timeout=1)
        assert time.monotonic() - started < 2.5
        assert ssh.run("echo $SSH_CLIENT").stdout.split()[1] == before
    assert "`sleep 5` did not finish within 1 s" in str(caught.value)


# -- connection failures ----------------------------------------------------


def test_closed_port_is_unreachable(
    target: Factory, known_hosts: KnownHosts, sshd: fx.SshServer
) -> None:
    closed = target(sshd, port=fx.free_port())
    with pytest.raises(Unreachable) as caught:
        ParamikoTransport(closed, known_hosts).open()
    assert "node hilltop" in str(caught.value)
    assert "connection refused" in str(caught.value)


def test_wrong_user_key_is_auth_failed(
    sshd: fx.SshServer,
    target: Factory,
    trusted: Callable[[fx.SshServer], KnownHosts],
    keys: dict[str, Path],
) -> None:
    with pytest.raises(AuthFailed) as caught:
        ParamikoTransport(target(sshd, "stranger"), trusted(sshd)).open()
    message = str(caught.value)
    assert str(keys["stranger"]) in message and "/etc/dropbear/authorized_keys" in message
    secret = keys["stranger"].read_text(encoding="ascii").splitlines()[1]
    assert secret not in message


def test_unusable_key_files_are_named_before_any_traffic(
    tmp_path: Path,
    target: Factory,
    known_hosts: KnownHosts,
    keys: dict[str, Path],
    sshd: fx.SshServer,
) -> None:
    encrypted = tmp_path / "id_locked"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret-phrase", "-f", str(encrypted)],
        check=True,
    )
    fifo = tmp_path / "id_fifo"
    os.mkfifo(fifo)
    cases = {
        tmp_path / "missing": "no such file",
        Path(f"{keys['ed25519']}.pub"): "not an Ed25519, ECDSA or RSA private key",
        encrypted: "encrypted with a passphrase",
        fifo: "a FIFO",  # would block paramiko's read forever
        Path("/dev/zero"): "device",  # would fill the memory
        tmp_path: "directory",
    }
    for path, problem in cases.items():
        unreachable = target(sshd, key_file=path, port=fx.free_port())  # no server behind it
        with pytest.raises(KeyFileUnusable) as caught:
            ParamikoTransport(unreachable, known_hosts).open()
        assert str(path) in str(caught.value) and problem in str(caught.value)
        assert "secret-phrase" not in str(caught.value)


# -- host keys ---------------------------------------------------------------


def test_unknown_host_key_is_refused_before_login(
    sshd: fx.SshServer, target: Factory, known_hosts: KnownHosts, tmp_path: Path
) -> None:
    # A key the server does not accept: HostKeyUnknown, not AuthFailed, shows
    # the host key is checked before any authentication is attempted.
    with pytest.raises(HostKeyUnknown) as caught:
        ParamikoTransport(target(sshd, "stranger"), known_hosts).open()
    message = str(caught.value)
    expected = ssh_keygen_fingerprint(sshd.host_key, tmp_path)
    assert caught.value.fingerprint == expected
    assert f"verify the fingerprint {expected}" in message
    assert "first contact needs --accept-new-host-keys" in message
    assert "dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key" in message
    assert not known_hosts.path.exists()


def test_accept_new_records_the_key_then_strict_works(
    sshd: fx.SshServer, target: Factory, known_hosts: KnownHosts
) -> None:
    with ParamikoTransport(target(sshd), known_hosts, accept_new=True) as ssh:
        ssh.run_checked("true")
    text = known_hosts.path.read_text(encoding="ascii")
    assert text == f"[{fx.LOOPBACK}]:{sshd.port} {sshd.host_key}\n"
    assert known_hosts.path.stat().st_mode & 0o777 == 0o600
    with ParamikoTransport(target(sshd), known_hosts) as ssh:
        assert ssh.run("echo strict").stdout == b"strict\n"
    # OpenSSH reads the same file.
    found = subprocess.run(
        ["ssh-keygen", "-F", f"[{fx.LOOPBACK}]:{sshd.port}", "-f", str(known_hosts.path)],
        capture_output=True,
        text=True,
    )
    assert found.returncode == 0 and "line 1" in found.stdout


def test_changed_host_key_names_both_fingerprints(
    sshd: fx.SshServer, target: Factory, known_hosts: KnownHosts, tmp_path: Path
) -> None:
    old = fx.keygen(tmp_path / "old_host_key", "ed25519")
    known_hosts.path.parent.mkdir(parents=True)
    known_hosts.path.write_text(f"# earlier\n[{fx.LOOPBACK}]:{sshd.port} {old}\n", encoding="ascii")
    with pytest.raises(HostKeyChanged) as caught:
        ParamikoTransport(target(sshd), known_hosts, accept_new=True).open()
    message = str(caught.value)
    assert fingerprint(old) in message and fingerprint(sshd.host_key) in message
    assert f"{known_hosts.path}:2" in message
    assert f"ssh-keygen -R '[{fx.LOOPBACK}]:{sshd.port}' -f {known_hosts.path}" in message
    assert known_hosts.path.read_text(encoding="ascii").endswith(f"{old}\n")  # never overwritten


def test_pinned_key_overrides_the_file(
    sshd: fx.SshServer, target: Factory, known_hosts: KnownHosts, tmp_path: Path
) -> None:
    other = fx.keygen(tmp_path / "other_host_key", "ed25519")
    known_hosts.add(fx.LOOPBACK, sshd.port, PublicKey.parse(other))  # file is wrong, pin right
    with ParamikoTransport(target(sshd, pinned_host_key=sshd.host_key), known_hosts) as ssh:
        assert ssh.run("echo pinned").ok
    fresh = KnownHosts(tmp_path / "fresh")
    fresh.add(fx.LOOPBACK, sshd.port, PublicKey.parse(sshd.host_key))  # file right, pin wrong
    with pytest.raises(HostKeyChanged) as caught:
        ParamikoTransport(target(sshd, pinned_host_key=other), fresh).open()
    assert "update ssh.host_key of node hilltop in the inventory" in str(caught.value)


def test_known_hosts_matching_rules(tmp_path: Path) -> None:
    key = PublicKey.parse(fx.keygen(tmp_path / "k", "ed25519"))
    store = KnownHosts(tmp_path / "known_hosts")
    store.add("192.0.2.1", 22, key)
    store.add("192.0.2.1", 2222, key)
    hashed = tmp_path / "hashed"
    hashed.write_text(f"router.mesh {key}\n10.* {key}\n!10.9.9.9,10.9.* {key}\n", encoding="ascii")
    subprocess.run(["ssh-keygen", "-H", "-f", str(hashed)], check=True, capture_output=True)
    hashed_store = KnownHosts(hashed)
    assert [e.line for e in store.lookup("192.0.2.1", 22)] == [1]
    assert [e.line for e in store.lookup("192.0.2.1", 2222)] == [2]
    assert store.lookup("192.0.2.2", 22) == []
    assert hashed.read_text(encoding="ascii").startswith("|1|")
    assert [e.line for e in hashed_store.lookup("router.mesh", 22)] == [1]
    assert [e.line for e in hashed_store.lookup("10.1.2.3", 22)] == [2]
    assert [e.line for e in hashed_store.lookup("10.9.9.9", 22)] == [2]  # negated on line 3
    assert (tmp_path / "known_hosts").stat().st_mode & 0o777 == 0o600


# -- OpenWrt 19.07: ssh-rsa only -------------------------------------------


def test_kexinit_parser_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a KEXINIT"):
        parse_host_key_algorithms(b"\x15" + bytes(16))
    with pytest.raises(ValueError, match="truncated"):
        parse_host_key_algorithms(b"\x14" + bytes(16) + b"\x00\x00\x01\x00abc")


def test_router_offers_only_ssh_rsa(legacy_sshd: fx.SshServer, sshd: fx.SshServer) -> None:
    assert offered_host_key_algorithms(fx.LOOPBACK, legacy_sshd.port, 5) == ("ssh-rsa",)
    assert "ssh-ed25519" in offered_host_key_algorithms(fx.LOOPBACK, sshd.port, 5)


def test_paramiko_refuses_legacy_router_with_the_opt_in_hint(
    legacy_sshd: fx.SshServer, target: Factory, known_hosts: KnownHosts
) -> None:
    plain = target(legacy_sshd, "legacy_rsa", legacy_rsa=False)
    with pytest.raises(LegacyAlgorithmRequired) as caught:
        ParamikoTransport(plain, known_hosts, accept_new=True).open()
    message = str(caught.value)
    assert caught.value.offered == ("ssh-rsa",)
    assert "verify the router is on OpenWrt 19.07" in message
    assert "set `ssh.legacy_rsa: true` for node hilltop" in message
    assert not known_hosts.path.exists()


def test_connect_chooses_openssh_only_on_opt_in(
    legacy_sshd: fx.SshServer, sshd: fx.SshServer, target: Factory, known_hosts: KnownHosts
) -> None:
    assert isinstance(connect(target(legacy_sshd, "legacy_rsa"), known_hosts), OpenSshTransport)
    assert isinstance(connect(target(sshd), known_hosts), ParamikoTransport)


def test_openssh_runs_and_puts_on_legacy_router(
    legacy_sshd: fx.SshServer,
    target: Factory,
    trusted: Callable[[fx.SshServer], KnownHosts],
    tmp_path: Path,
) -> None:
    with connect(target(legacy_sshd, "legacy_rsa"), trusted(legacy_sshd)) as ssh:
        assert isinstance(ssh, OpenSshTransport) and isinstance(ssh, Transport)
        result = ssh.run("printf out; printf err >&2; exit 4")
        assert (result.exit_status, result.stdout, result.stderr) == (4, b"out", b"err")
        for name, data in PAYLOADS.items():
            ssh.put(str(tmp_path / name), data)
            assert (tmp_path / name).read_bytes() == data
        assert ssh.run("cat", stdin=TRICKY).stdout == TRICKY
        with pytest.raises(RemoteCommandFailed) as caught:
            ssh.run_checked("exit 255")  # a remote 255 is not mistaken for ssh's own
        assert caught.value.exit_status == 255
        ports = {ssh.run("echo $SSH_CLIENT").stdout.split()[1] for _ in range(3)}
        assert len(ports) == 1  # one multiplexed connection
        control = ssh._dir
        assert control is not None and control.stat().st_mode & 0o777 == 0o700
    assert not control.exists()
    assert not _ssh_clients_using(control)
    log = legacy_sshd.log_text()
    assert "Accepted publickey" in log and "ssh2: RSA" in log


def test_openssh_timeout_then_usable(
    legacy_sshd: fx.SshServer, target: Factory, trusted: Callable[[fx.SshServer], KnownHosts]
) -> None:
    with connect(target(legacy_sshd, "legacy_rsa"), trusted(legacy_sshd)) as ssh:
        started = time.monotonic()
        with pytest.raises(Timeout):
            ssh.run("sleep 5", timeout=1)
        assert time.monotonic() - started < 2.5
        assert ssh.run("echo again").stdout == b"again\n"


def test_openssh_unknown_host_key_then_accept_new(
    legacy_sshd: fx.SshServer, target: Factory, known_hosts: KnownHosts, tmp_path: Path
) -> None:
    node = target(legacy_sshd, "legacy_rsa")
    with pytest.raises(HostKeyUnknown) as caught:
        connect(node, known_hosts).open()
    expected = ssh_keygen_fingerprint(legacy_sshd.host_key, tmp_path)
    assert caught.value.fingerprint == expected
    assert "first contact needs --accept-new-host-keys" in str(caught.value)
    assert "dropbear_rsa_host_key" in str(caught.value)
    with connect(node, known_hosts, accept_new=True) as ssh:
        ssh.run_checked("true")
    assert [str(e.key) for e in known_hosts.lookup(fx.LOOPBACK, legacy_sshd.port)] == [
        legacy_sshd.host_key
    ]
    assert known_hosts.path.stat().st_mode & 0o777 == 0o600
    with connect(node, known_hosts) as ssh:
        assert ssh.run("echo strict").stdout == b"strict\n"


def test_openssh_changed_host_key(
    legacy_sshd: fx.SshServer, target: Factory, known_hosts: KnownHosts, tmp_path: Path
) -> None:
    old = fx.keygen(tmp_path / "old_rsa_host_key", "rsa")
    known_hosts.add(fx.LOOPBACK, legacy_sshd.port, PublicKey.parse(old))
    node = target(legacy_sshd, "legacy_rsa")
    with pytest.raises(HostKeyChanged) as caught:
        connect(node, known_hosts, accept_new=True).open()
    message = str(caught.value)
    assert fingerprint(old) in message and fingerprint(legacy_sshd.host_key) in message
    assert f"{known_hosts.path}:1" in message
    pinned = target(legacy_sshd, "legacy_rsa", pinned_host_key=old)
    with pytest.raises(HostKeyChanged) as pin_caught:
        connect(pinned, KnownHosts(tmp_path / "empty")).open()
    assert "update ssh.host_key of node hilltop in the inventory" in str(pin_caught.value)
    right = target(legacy_sshd, "legacy_rsa", pinned_host_key=legacy_sshd.host_key)
    with connect(right, known_hosts) as ssh:  # the pin overrides the stale file entry
        assert ssh.run("echo pinned").ok


def test_openssh_auth_and_reachability_failures(
    legacy_sshd: fx.SshServer,
    target: Factory,
    trusted: Callable[[fx.SshServer], KnownHosts],
    keys: dict[str, Path],
    tmp_path: Path,
) -> None:
    store = trusted(legacy_sshd)
    with pytest.raises(AuthFailed):
        connect(target(legacy_sshd, "rsa"), store).open()  # an RSA key it does not know
    with pytest.raises(Unreachable, match="Connection refused"):
        connect(target(legacy_sshd, "legacy_rsa", port=fx.free_port()), store).open()
    loose = tmp_path / "id_loose"
    loose.write_bytes(keys["legacy_rsa"].read_bytes())
    loose.chmod(0o644)
    with pytest.raises(KeyFileUnusable, match="chmod 600"):
        connect(target(legacy_sshd, "legacy_rsa", key_file=loose), store).open()


def _ssh_clients_using(control_dir: Path) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [line for line in ps.stdout.splitlines() if str(control_dir) in line]


# -- dropbear, what OpenWrt runs -----------------------------------------------


def test_paramiko_against_dropbear(
    dropbear: fx.SshServer, target: Factory, known_hosts: KnownHosts, tmp_path: Path
) -> None:
    node = target(dropbear)
    with pytest.raises(HostKeyUnknown) as caught:
        ParamikoTransport(node, known_hosts).open()
    # The console command the message names prints the same fingerprint.
    host_key = next(dropbear.log.parent.glob("dropbear_*_host_key"))
    shown = subprocess.run(
        ["dropbearkey", "-y", "-f", str(host_key)], capture_output=True, text=True, check=True
    ).stdout
    assert f"Fingerprint: {caught.value.fingerprint}" in shown
    with ParamikoTransport(node, known_hosts, accept_new=True) as ssh:
        result = ssh.run("printf out; printf err >&2; exit 4")
        assert (result.exit_status, result.stdout, result.stderr) == (4, b"out", b"err")
        for name, data in PAYLOADS.items():
            ssh.put(str(tmp_path / name), data)
            assert (tmp_path / name).read_bytes() == data
        with pytest.raises(Timeout):
            ssh.run("sleep 5", timeout=1)
        assert ssh.run("echo again").stdout == b"again\n"
    assert "Pubkey auth succeeded" in dropbear.log_text()


# -- measurements (printed with -s, not asserted) ----------------------------

SEVEN_FILES = {
    name: (f"config {name} 'main'\n\toption enabled '1'\n" * 20).encode()
    for name in ("system", "network", "wireless", "firewall", "dhcp", "babeld", "dropbear")
}


def _measure(make: Callable[[], Transport], directory: Path) -> tuple[float, float]:
    transport = make()
    started = time.perf_counter()
    transport.open()
    opened = time.perf_counter()
    try:
        for name, data in SEVEN_FILES.items():
            transport.put(str(directory / name), data)
        done = time.perf_counter()
    finally:
        transport.close()
    return (opened - started) * 1000, (done - opened) * 1000


def _report(title: str, variants: dict[str, Callable[[], Transport]], directory: Path) -> None:
    print(f"\n  {title:<34} setup ms   7 puts ms   (median of 3)")
    for label, make in variants.items():
        runs = [_measure(make, directory) for _ in range(3)]
        setup = statistics.median(r[0] for r in runs)
        puts = statistics.median(r[1] for r in runs)
        print(f"  {label:<34} {setup:8.1f}   {puts:9.1f}")
    assert all((directory / name).read_bytes() == data for name, data in SEVEN_FILES.items())


def test_measure_setup_and_seven_puts(
    sshd: fx.SshServer,
    legacy_sshd: fx.SshServer,
    target: Factory,
    known_hosts: KnownHosts,
    tmp_path: Path,
) -> None:
    known_hosts.add(fx.LOOPBACK, sshd.port, PublicKey.parse(sshd.host_key))
    known_hosts.add(fx.LOOPBACK, legacy_sshd.port, PublicKey.parse(legacy_sshd.host_key))
    variants: dict[str, Callable[[], Transport]] = {
        "paramiko, TCP_NODELAY": lambda: ParamikoTransport(target(sshd), known_hosts),
        "paramiko, Nagle": lambda: ParamikoTransport(target(sshd), known_hosts, tcp_nodelay=False),
        "OpenSSH client, 19.07-like sshd": lambda: OpenSshTransport(
            target(legacy_sshd, "legacy_rsa"), known_hosts
        ),
    }
    _report("transport against OpenSSH sshd", variants, tmp_path)


def test_measure_against_dropbear(
    dropbear: fx.SshServer, target: Factory, known_hosts: KnownHosts, tmp_path: Path
) -> None:
    known_hosts.add(fx.LOOPBACK, dropbear.port, PublicKey.parse(dropbear.host_key))
    variants: dict[str, Callable[[], Transport]] = {
        "paramiko, TCP_NODELAY": lambda: ParamikoTransport(target(dropbear), known_hosts),
        "paramiko, Nagle": lambda: ParamikoTransport(
            target(dropbear), known_hosts, tcp_nodelay=False
        ),
    }
    _report("transport against dropbear", variants, tmp_path)


def test_servers_stop_cleanly(tmp_path: Path) -> None:
    server = fx.start_sshd(tmp_path / "short-lived", [])
    assert server.process.poll() is None
    server.stop()
    assert server.process.poll() is not None
    assert "Received signal 15; terminating." in server.log_text()
