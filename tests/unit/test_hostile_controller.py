"""The controller facing hostile or broken routers and agents, and hostile values.

Each test stands up the hostile party for real where it can: HTTP agents on
127.0.0.1 (threads), the OpenSSH client's own parser (`ssh -G`), the
router-side shell scripts run by /bin/sh in a directory standing in for the
router's root, and a fake router transport serving recorded-style answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from controller.cli import cli
from controller.model.load import load_inventory
from controller.noc import scrape
from controller.noc.targets import AgentTarget
from controller.push import remote, report
from controller.push.plan import NodeChange, stage_archive, target_for, tree_hash
from controller.push.run import PushOptions, _check_all
from controller.render.tree import RenderedFile, render_inventory
from controller.transport import (
    CommandResult,
    KnownHosts,
    OpenSshTransport,
    SessionFailed,
    SshTarget,
    Transport,
    Unreachable,
)
from controller.transport.base import TransportBase
from tests.unit import sshd_fixture as fx

SSH = shutil.which("ssh")

# --- 8: `meshkeeper monitoring scrape` against hostile agents ---------------------

GOOD_EXPOSITION = (
    "# TYPE meshkeeper_config_generation gauge\n"
    "meshkeeper_config_generation 7\n"
    "# TYPE meshkeeper_link_up gauge\n"
    'meshkeeper_link_up{neighbor="relay-clinic"} 1\n'
    'meshkeeper_link_up{neighbor="leaf-library"} 1\n'
    "# TYPE meshkeeper_collector_success gauge\n"
    'meshkeeper_collector_success{collector="system"} 1\n'
)


def _http(body: bytes, *, status: str = "200 OK", extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n{extra}"
    if "Content-Length" not in extra and "Transfer-Encoding" not in extra:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


Answer = Callable[[socket.socket, threading.Event], None]


def _once(data: bytes) -> Answer:
    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(data)

    return answer


def _slow_drip(conn: socket.socket, stop: threading.Event) -> None:
    """Headers at once, then one byte of body every 50 ms, for ever."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    while not stop.is_set():
        conn.sendall(b"#")
        time.sleep(0.05)


def _slow_headers(conn: socket.socket, stop: threading.Event) -> None:
    """A header line that never ends, one byte every 50 ms."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while not stop.is_set():
        conn.sendall(b"a")
        time.sleep(0.05)


def _declared_200_mb(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 209715200\r\nConnection: close\r\n\r\n")
    line = b'meshkeeper_link_up{neighbor="n"} 1\n' * 2000
    for _ in range(209715200 // len(line) + 1):
        if stop.is_set():
            return
        conn.sendall(line)


def _chunked_endless(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"# padding padding padding padding\n" * 1000
    while not stop.is_set():
        conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")


class Agent:
    """One fake agent: a TCP listener on 127.0.0.1 answering every connection alike."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.stop = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(4096)  # the request: one look is enough
                self.answer(conn, self.stop)
            except OSError:
                pass  # the client hung up: what a bounded client must do

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.server.close()


HOSTILE_AGENTS: dict[str, Answer] = {
    "good": _once(_http(GOOD_EXPOSITION.encode())),
    "garbage": _once(b"\x00\xff\x1b[2J SSH-2.0-nonsense\r\n\r\n"),
    "inf-generation": _once(_http(b"meshkeeper_config_generation 1e400\n")),
    "huge-generation": _once(_http(b"meshkeeper_config_generation 1" + b"0" * 5000 + b"\n")),
    "nan-generation": _once(_http(b"meshkeeper_config_generation NaN\n")),
    "huge-timestamp": _once(_http(b"meshkeeper_config_generation 1 " + b"9" * 5000 + b"\n")),
    "locked": _once(_http(b"", status="401 Unauthorized")),
    # the parser is quadratic in labels per line: 3 MB of them would take minutes
    "many-labels": _once(
        _http(b"meshkeeper_link_up{" + b",".join(b'a%d="b"' % i for i in range(300_000)) + b"} 1\n")
    ),
    "no-neighbor-label": _once(_http(b"meshkeeper_link_up 1\n")),
    "no-collector-label": _once(_http(b"meshkeeper_collector_success 0\n")),
    "not-an-agent": _once(_http(b"node_load1 0.5\n")),
    "bad-exposition": _once(_http(b'meshkeeper_link_up{neighbor="x" 1\n')),
    "ansi-labels": _once(
        _http(
            b'meshkeeper_link_up{neighbor="\x1b[31mred\r\x1b]0;owned\x07"} 0\n'
            b'meshkeeper_collector_success{collector="\xe2\x80\xaeevil\xc2\x9b31m"} 0\n'
        )
    ),
    "long-label": _once(_http(b'meshkeeper_link_up{neighbor="' + b"x" * 5000 + b'"} 0\n')),
    "http-500": _once(_http(b"\x1b[31mfail", status="500 \x1b[31mInternal")),
    "slow-drip": _slow_drip,
    "slow-headers": _slow_headers,
    "declared-200-MB": _declared_200_mb,
    "chunked-endless": _chunked_endless,
}


@pytest.fixture
def agents() -> Iterator[dict[str, AgentTarget]]:
    running = {name: Agent(answer) for name, answer in HOSTILE_AGENTS.items()}
    yield {
        name: AgentTarget(name, "127.0.0.1", agent.port, "leaf", "http")
        for name, agent in running.items()
    }
    for agent in running.values():
        agent.close()


def test_scrape_survives_every_hostile_agent_within_its_deadline(
    agents: dict[str, AgentTarget], example_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("controller.noc.targets.agent_targets", lambda inv: list(agents.values()))
    start = time.monotonic()
    result = CliRunner().invoke(
        cli, ["monitoring", "scrape", "-i", str(example_copy), "--timeout", "1"]
    )
    seconds = time.monotonic() - start
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1  # some agents are not fine
    assert seconds < 6, f"scrape took {seconds:.1f} s with a 1 s deadline per agent"
    raw = result.stdout_bytes
    for bad in (b"\x1b", b"\r", b"\x07", b"\xc2\x9b", b"\xe2\x80\xae"):
        assert bad not in raw
    lines = result.output.splitlines()
    rows = {line.split()[0]: line for line in lines[1:]}
    assert len(lines) == 1 + len(agents)  # a header, then exactly one line per agent
    assert set(rows) == set(agents)
    good = rows["good"].split()
    assert good[1:4] == ["ok", "7", "2/2"]
    assert "needs a password" in rows["locked"]
    assert rows["huge-timestamp"].split()[1:3] == ["ok", "1"]  # the parser copes
    for name in ("inf-generation", "huge-generation", "nan-generation"):
        assert "bad answer" in rows[name]
    for name in ("no-neighbor-label", "no-collector-label", "not-an-agent", "bad-exposition"):
        assert "bad answer" in rows[name]
    for name in ("many-labels",):
        assert "bad answer" in rows[name]
    assert "no answer" in rows["garbage"]
    assert "HTTP 500" in rows["http-500"]
    for name in ("slow-drip", "slow-headers"):
        assert "within 1 s" in rows[name]
    for name in ("declared-200-MB", "chunked-endless"):
        assert "MiB" in rows[name] or "within 1 s" in rows[name]
    assert "\\x1b[31mred\\r" in rows["ansi-labels"]  # shown escaped, never interpreted
    assert len(rows["long-label"]) < 400


def test_a_good_agent_alone_exits_zero(example_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agent = Agent(HOSTILE_AGENTS["good"])
    try:
        target = AgentTarget("good", "127.0.0.1", agent.port, "leaf", "http")
        monkeypatch.setattr("controller.noc.targets.agent_targets", lambda inv: [target])
        result = CliRunner().invoke(cli, ["monitoring", "scrape", "-i", str(example_copy)])
    finally:
        agent.close()
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split()[1:4] == ["ok", "7", "2/2"]


def test_scrape_one_bounds_body_size_and_time() -> None:
    agent = Agent(_declared_200_mb)
    try:
        target = AgentTarget("big", "127.0.0.1", agent.port, "leaf", "http")
        start = time.monotonic()
        view = scrape.scrape_one(target, timeout=20)
        assert time.monotonic() - start < 10
    finally:
        agent.close()
    assert "larger than 4 MiB" in view.answer and view.failing


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain-name_1", "plain-name_1"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\rb\nc\td", "a\\rb\\nc\\td"),
        ("\x9b31m", "\\x9b31m"),  # C1 CSI
        ("\u202eevil\u2066x\u2069", "\\u202eevil\\u2066x\\u2069"),
        ("x" * 100, "x" * 59 + "…"),
    ],
)
def test_text_from_an_agent_is_escaped_and_cut(text: str, shown: str) -> None:
    assert report.shown(text, 60) == shown


# --- 10: values on the OpenSSH command line ---------------------------------------

# Each piece is something ssh_config would otherwise read differently: a space
# (a second file), %-tokens (%h host, %d home, %C hash, %% itself), quotes, a
# backslash, `#` (a comment), `=` (the keyword separator).
TRICKY_DIR = "dir with space %h %d %C %% 'single' \"double\" back\\slash #hash =eq"
USER = fx.current_user()


def _ssh_config(argv: list[str]) -> dict[str, str]:
    """What ssh makes of our command line, without connecting (`ssh -G`)."""
    done = subprocess.run(
        [argv[0], "-G", *argv[1:]], capture_output=True, text=True, timeout=10, check=True
    )
    config: dict[str, str] = {}
    for line in done.stdout.splitlines():
        keyword, _, value = line.partition(" ")
        config.setdefault(keyword, value)
    return config


def _legacy_target(port: int, key_file: Path, **changes: str) -> SshTarget:
    target = SshTarget("hilltop", fx.LOOPBACK, port, USER, key_file, legacy_rsa=True)
    for name, value in changes.items():
        object.__setattr__(target, name, value)  # past the model's own check
    return target


def _openssh_argv(tmp_path: Path, target: SshTarget, known_hosts: Path) -> list[str]:
    transport = OpenSshTransport(target, KnownHosts(known_hosts))
    transport._ssh = SSH
    transport._dir = tmp_path / f"control {TRICKY_DIR}"
    transport._dir.mkdir()
    return transport._argv({}, [], "true")


needs_ssh = pytest.mark.skipif(SSH is None, reason="needs Debian's openssh-client")


@needs_ssh
def test_ssh_reads_back_exactly_our_paths(tmp_path: Path) -> None:
    folder = tmp_path / TRICKY_DIR
    folder.mkdir()
    known, key = folder / "known hosts", folder / "id rsa"
    argv = _openssh_argv(tmp_path, _legacy_target(2222, key), known)
    config = _ssh_config(argv)
    assert config["userknownhostsfile"] == str(known)
    assert config["controlpath"] == str(tmp_path / f"control {TRICKY_DIR}" / "cm")
    # ssh expands IdentityFile's tokens only when it loads the key (after -G prints):
    # it holds the %-escaped form, which the real login below proves right.
    assert config["identityfile"] == str(key).replace("%", "%%")
    assert (config["user"], config["port"], config["hostname"]) == (USER, "2222", fx.LOOPBACK)


@needs_ssh
def test_ssh_refuses_a_path_it_would_expand_from_the_environment(tmp_path: Path) -> None:
    key = tmp_path / "${HOME}" / "id"
    with pytest.raises(SessionFailed, match="cannot be escaped"):
        _openssh_argv(tmp_path, _legacy_target(22, key), tmp_path / "known_hosts")


@pytest.mark.parametrize("field", ["host", "user"])
def test_a_host_or_user_that_looks_like_an_option_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match=f"ssh {field}"):
        SshTarget(
            "n",
            "-oProxyCommand=x" if field == "host" else "10.0.0.1",
            22,
            "-oProxyCommand=x" if field == "user" else "root",
            Path("/k"),
        )


@needs_ssh
def test_even_past_the_model_a_leading_dash_stays_a_value(tmp_path: Path) -> None:
    evil = f"-oProxyCommand=touch {tmp_path}/pwned"
    argv = _openssh_argv(
        tmp_path,
        _legacy_target(22, tmp_path / "id", user=evil, host="-oLocalCommand=x"),
        tmp_path / "known_hosts",
    )
    assert argv[argv.index("-l") + 1] == evil and argv[argv.index("--") + 1] == "-oLocalCommand=x"
    # ssh takes them as a login and a host name (and refuses both as names), never as options
    done = subprocess.run([argv[0], "-G", *argv[1:]], capture_output=True, text=True, timeout=10)
    assert done.returncode == 255 and "invalid characters" in done.stderr
    assert "proxycommand" not in done.stdout and "localcommand" not in done.stdout
    assert not (tmp_path / "pwned").exists()


def test_the_transport_runs_argv_lists_never_a_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, dict[str, object]]] = []

    def record(args: object, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        calls.append((args, kwargs))
        return subprocess.CompletedProcess(args, 0, b"", b"")

    monkeypatch.setattr("controller.transport.openssh.subprocess.run", record)
    monkeypatch.setattr("controller.transport.openssh.shutil.which", lambda name: "/usr/bin/ssh")
    monkeypatch.setattr("controller.transport.openssh.check_private_key", lambda target: "")
    target = _legacy_target(22, tmp_path / "id")
    with OpenSshTransport(target, KnownHosts(tmp_path / "known_hosts")) as ssh:
        ssh.run("uci show system", stdin=b"x")
    assert len(calls) == 2  # the master, the command
    for args, kwargs in calls:
        assert isinstance(args, list) and all(isinstance(a, str) for a in args)
        assert not kwargs.get("shell")
        assert args[args.index("-l") + 1] == USER and args[args.index("--") + 1] == fx.LOOPBACK


@pytest.fixture(scope="module")
def legacy_router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[fx.SshServer, Path]]:
    """A 19.07-like sshd, and a user key kept in a directory with every tricky character."""
    if SSH is None or not Path(fx.SSHD).exists():
        pytest.skip("needs Debian's openssh-server and openssh-client")
    keys = tmp_path_factory.mktemp("keys") / TRICKY_DIR
    keys.mkdir()
    key = keys / "id rsa %h"
    fx.keygen(key, "rsa")
    server = fx.start_sshd(tmp_path_factory.mktemp("legacy"), [fx.public_key(key)], legacy=True)
    yield server, key
    server.stop()


def test_a_real_login_uses_our_key_and_writes_our_known_hosts(
    legacy_router: tuple[fx.SshServer, Path], tmp_path: Path
) -> None:
    server, key = legacy_router
    state = tmp_path / TRICKY_DIR
    state.mkdir()
    known = KnownHosts(state / "known hosts")
    with OpenSshTransport(_legacy_target(server.port, key), known, accept_new=True) as ssh:
        assert ssh.run_checked("echo in").stdout == b"in\n"
    assert [str(e.key) for e in known.lookup(fx.LOOPBACK, server.port)] == [server.host_key]
    stray = [p for p in tmp_path.rglob("*") if p != state and p != known.path]
    assert stray == []  # no host key written to a file named after a token or a word


# --- a fake router: its root is a directory, its commands run in /bin/sh -----------


def on_root(root: Path, command: str) -> str:
    """`command` with the router's absolute paths moved under `root` (the scripts are
    fixed text: /etc, /tmp/meshkeeper*, `cd /`, `-C /` and "/$f" are all they use)."""
    command = re.sub(r"(?<![\w.])/(etc|tmp)/", lambda m: f"{root}/{m.group(1)}/", command)
    command = re.sub(r"\b(cd|-C) /(?=[\s;&)]|$)", lambda m: f"{m.group(1)} {root}", command)
    return command.replace('"/$f', f'"{root}/$f')


class FakeRouter(TransportBase):
    """The transport to a router whose root is a directory: real scripts, no SSH."""

    def __init__(self, target: SshTarget, root: Path) -> None:
        self.target = target
        self.root = root
        self.commands: list[str] = []

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def run(
        self, command: str, *, stdin: bytes | None = None, timeout: float = 30
    ) -> CommandResult:
        self.commands.append(command)
        done = subprocess.run(
            ["/bin/sh", "-c", on_root(self.root, command)],
            input=stdin or b"",
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        return CommandResult(done.returncode, done.stdout, done.stderr)


class Switchboard:
    """What `connect` returns, per node: a fake router, or a router that does not answer."""

    def __init__(self) -> None:
        self.roots: dict[str, Path] = {}
        self.routers: list[FakeRouter] = []

    def connect(
        self, target: SshTarget, known_hosts: KnownHosts, *, accept_new: bool = False
    ) -> Transport:
        if target.node not in self.roots:
            raise Unreachable(target.node, target.address, "no route to host")
        router = FakeRouter(target, self.roots[target.node])
        self.routers.append(router)
        return router

    def commands(self) -> list[str]:
        return [c for r in self.routers for c in r.commands]


def router_root(
    folder: Path,
    files: list[RenderedFile],
    *,
    edits: dict[str, bytes | None] | None = None,
    applied: bytes | None = None,
    pending: str | None = None,
) -> Path:
    """A router that holds `files` as pushed and confirmed, then `edits` by hand
    (None removes a file); `applied` replaces its applied.json."""
    for file in files:
        path = folder / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.data)
    record = {
        "generation": 4,
        "hash": tree_hash(files),
        "files": {f.path: hashlib.sha256(f.data).hexdigest() for f in files},
    }
    meta = folder / "etc" / "meshkeeper"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "applied.json").write_bytes(
        applied if applied is not None else json.dumps(record).encode()
    )
    if pending is not None:
        (meta / "pending").write_text(pending + "\n")
    for path, data in (edits or {}).items():
        if data is None:
            (folder / path).unlink()
        else:
            (folder / path).write_bytes(data)
    return folder


@pytest.fixture
def switchboard(monkeypatch: pytest.MonkeyPatch) -> Switchboard:
    board = Switchboard()
    for module in ("controller.push.fetch", "controller.push.run", "controller.push.reconcile"):
        monkeypatch.setattr(f"{module}.connect", board.connect)
    return board


def _public_key(key_type: str, *fields: bytes) -> str:
    blob = b"".join(struct.pack(">I", len(f)) + f for f in (key_type.encode(), *fields))
    return f"{key_type} {base64.b64encode(blob).decode()} meshkeeper-test"


@pytest.fixture
def rendered(example_copy: Path) -> dict[str, list[RenderedFile]]:
    # well-formed public keys, whatever the shared fixture holds
    lab = example_copy.parent / ".meshkeeper" / "lab"
    ed25519 = _public_key("ssh-ed25519", bytes(range(32)))
    rsa = _public_key("ssh-rsa", b"\x01\x00\x01", b"\x00" + bytes(range(1, 256)) * 1)
    (lab / "controller_ed25519.pub").write_text(ed25519 + "\n")
    (lab / "controller_rsa.pub").write_text(rsa + "\n")
    return render_inventory(load_inventory(example_copy, resolve_secrets=True))


def _cli(example_copy: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, [*args, "-i", str(example_copy)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def _secrets(example_copy: Path) -> list[str]:
    return [
        p.read_text().strip()
        for p in (example_copy / "secrets").iterdir()
        if p.suffix in (".key", ".pass")
    ]


# --- 9: `meshkeeper diff` against routers with broken or hostile files ------------

WIRELESS = "etc/config/wireless"
AGENT = "etc/meshkeeper/agent.json"
PASSPHRASE = "Qz7!Hx-9vKw2Lp4Rt"  # noqa: S105 - a test's stand-in for one
# lines a hand (or a hostile router) put into the mesh radio's section of wireless
BROKEN_WIRELESS = {
    "glued quote": f"\toption key'{PASSPHRASE}'",
    "bad name": f"\toption {PASSPHRASE} '1'",
    "bad type": f"config {PASSPHRASE}\"x 'ap9'",
    "unterminated": f"\toption key '{PASSPHRASE}",
    "too many": f"\toption key {PASSPHRASE} more",
    "bad section name": f"config wifi-iface '{PASSPHRASE}'",
    "NUL": f"\toption key '{PASSPHRASE}\0'",
    "WEP key option": f"\toption key1 '{PASSPHRASE}'",
    "sae password": f"\toption sae_password '{PASSPHRASE}'",
    "wpa password": f"\toption wpa_passphrase '{PASSPHRASE}'",
    "psk": f"\toption psk '{PASSPHRASE}'",
    "key changed": f"\toption key '{PASSPHRASE}'",
}
BROKEN_AGENT_JSON = {
    "list": b"[]",
    "number": b"1",
    "null": b"null",
    "string": b'"x"',
    "not JSON": b"{nope",
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "huge": b'{"pad": "' + b"x" * (3 * 2**20) + b'"}',
    "huge number": b'{"version": ' + b"9" * 5000 + b"}",
    "hostile key": b'{"\\u001b[31mred\\r": 1, "\\u202eevil": 2}',
    "not UTF-8": b'{"\xff\xfe": 1}',
}


@pytest.mark.parametrize("case", sorted(BROKEN_WIRELESS))
def test_diff_never_shows_a_secret_from_a_broken_wireless_file(
    case: str,
    example_copy: Path,
    rendered: dict[str, list[RenderedFile]],
    switchboard: Switchboard,
    tmp_path: Path,
) -> None:
    wireless = next(f.data for f in rendered["gw-market"] if f.path == WIRELESS)
    head = b"config wifi-iface 'mesh0'\n"
    broken = wireless.replace(head, head + BROKEN_WIRELESS[case].encode() + b"\n")
    switchboard.roots["gw-market"] = router_root(
        tmp_path / "gw-market", rendered["gw-market"], edits={WIRELESS: broken}
    )
    switchboard.roots["gw-school"] = router_root(tmp_path / "gw-school", rendered["gw-school"])
    result = _cli(example_copy, "diff", "--node", "gw-*")
    assert result.exit_code == 1
    out = result.output
    pieces = [PASSPHRASE[i : i + 6] for i in range(len(PASSPHRASE) - 5)]
    for secret in _secrets(example_copy):  # words like "passphrase" are option names too
        pieces += [secret[i : i + 12] for i in range(len(secret) - 11)]
    for piece in pieces:
        assert piece not in out, f"{case}: a piece of a secret shows"
    assert "gw-school: in sync" in out
    assert "wireless" in out


@pytest.mark.parametrize("case", sorted(BROKEN_AGENT_JSON))
def test_diff_reports_a_broken_agent_json_and_goes_on(
    case: str,
    example_copy: Path,
    rendered: dict[str, list[RenderedFile]],
    switchboard: Switchboard,
    tmp_path: Path,
) -> None:
    switchboard.roots["gw-market"] = router_root(
        tmp_path / "gw-market", rendered["gw-market"], edits={AGENT: BROKEN_AGENT_JSON[case]}
    )
    switchboard.roots["gw-school"] = router_root(tmp_path / "gw-school", rendered["gw-school"])
    start = time.monotonic()
    result = _cli(example_copy, "diff", "--node", "gw-*")
    assert time.monotonic() - start < 10
    assert result.exit_code == 1
    assert "gw-school: in sync" in result.output
    market = [line for line in result.output.splitlines() if "agent.json" in line]
    assert 1 <= len(market) <= 40 and all(len(line) < 300 for line in market), result.output
    assert "\x1b" not in result.output and "\r" not in result.output
    assert "\u202e" not in result.output


def test_diff_of_a_router_that_sends_garbage_is_one_line(
    example_copy: Path,
    rendered: dict[str, list[RenderedFile]],
    switchboard: Switchboard,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    switchboard.roots["gw-market"] = router_root(tmp_path / "gw-market", rendered["gw-market"])
    switchboard.roots["gw-school"] = router_root(tmp_path / "gw-school", rendered["gw-school"])
    real_run = FakeRouter.run

    def garbage(self: FakeRouter, command: str, **kwargs: Any) -> CommandResult:
        if self.target.node == "gw-market" and "tar -c" in command:
            return CommandResult(0, b"\x1b[2J" + PASSPHRASE.encode() * 1000, b"")
        return real_run(self, command, **kwargs)

    monkeypatch.setattr(FakeRouter, "run", garbage)
    result = _cli(example_copy, "diff", "--node", "gw-*")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert [line for line in lines if line.startswith("gw-market")] == [
        "gw-market: could not compare its files (the router's answer is not a tar stream) — "
        "a push replaces them"
    ]
    assert "gw-school: in sync" in lines
    assert PASSPHRASE[:6] not in result.output and "\x1b" not in result.output


@pytest.mark.parametrize(
    "applied",
    [
        b'{"generation": 1e400, "hash": "x"}',
        b'{"generation": [1], "hash": "x"}',
        b'{"generation": 1, "hash": "x", "files": 5}',
        b'{"generation": 1, "hash": ["x"]}',
        b"{" * 50_000,
        b'{"generation": 1, "hash": "' + b"\x1b[2J" * 20_000 + b'"}',  # over 64 KiB
    ],
)
def test_a_router_record_nobody_could_write_is_one_line(
    applied: bytes,
    example_copy: Path,
    rendered: dict[str, list[RenderedFile]],
    switchboard: Switchboard,
    tmp_path: Path,
) -> None:
    switchboard.roots["gw-market"] = router_root(
        tmp_path / "gw-market", rendered["gw-market"], applied=applied
    )
    switchboard.roots["gw-school"] = router_root(tmp_path / "gw-school", rendered["gw-school"])
    for args in (("diff",), ("push", "--dry-run")):
        result = _cli(example_copy, *args, "--node", "gw-*")
        assert result.exit_code == 1
        assert len(result.output.splitlines()) <= 4, result.output  # a line or two each
        assert "\x1b" not in result.output
        assert "gw-school: in sync" in result.output or "gw-school: unchanged" in result.output


# --- 20 and 19: one notion of "differs" for diff, push --dry-run and push --------

EDITS: dict[str, dict[str, Any]] = {
    "in sync": {},
    "comment added": {},  # these three edit etc/config/system: see _variant
    "whitespace only": {},
    "option changed": {},
    "file removed": {"edits": {"etc/config/dhcp": None}},
    "unconfirmed push": {"pending": "gen-3.tar"},
    "other render recorded": {"applied": b'{"generation": 3, "hash": "0000", "files": {}}'},
    "never pushed": {"applied": b""},
    "applied.json is a list": {"applied": b"[]"},
}


def _variant(name: str, files: list[RenderedFile]) -> dict[str, Any]:
    system = next(f.data for f in files if f.path == "etc/config/system")
    edited = {
        "comment added": b"# hand edit, no meaning\n" + system,
        "whitespace only": system.replace(b"\t", b"    ") + b"\n\n",
        "option changed": system.replace(b"option hostname '", b"option hostname 'x"),
    }
    variant = dict(EDITS[name])
    if name in edited:
        variant["edits"] = {"etc/config/system": edited[name]}
    return variant


@pytest.mark.parametrize("name", list(EDITS))
def test_diff_dry_run_and_push_agree_on_what_differs(
    name: str,
    example_copy: Path,
    rendered: dict[str, list[RenderedFile]],
    switchboard: Switchboard,
    tmp_path: Path,
) -> None:
    files = rendered["gw-market"]
    switchboard.roots["gw-market"] = router_root(tmp_path / "r", files, **_variant(name, files))
    diff = _cli(example_copy, "diff", "--node", "gw-market")
    dry = _cli(example_copy, "push", "--dry-run", "--node", "gw-market")
    inv = load_inventory(example_copy, resolve_secrets=True)
    change = NodeChange("gw-market", tuple(files), tree_hash(files), target_for(inv, "gw-market"))
    (checked,) = _check_all(
        {"gw-market": change}, KnownHosts(tmp_path / "known_hosts"), PushOptions()
    )
    assert checked is not None
    in_sync = name == "in sync"
    assert (diff.exit_code == 0) is in_sync, diff.output
    assert ("gw-market: in sync" in diff.output) is in_sync, diff.output
    assert (dry.exit_code == 0) is in_sync, dry.output
    assert ("would push" in dry.output) is not in_sync, dry.output
    assert (checked.result == "unchanged") is in_sync
    if name in ("comment added", "whitespace only"):
        assert "etc/config/system: bytes differ: comments/formatting only" in diff.output
        assert "etc/config/system: bytes differ: comments/formatting only" in dry.output
    if name == "option changed":
        assert "system: @system[0].hostname:" in diff.output
    # the look is read-only: only the inspect and the fetch ran on the router
    paths = [f.path for f in files]
    assert set(switchboard.commands()) == {remote.inspect(paths), remote.fetch(paths)}


def test_push_dry_run_says_per_router_what_would_change(
    example_copy: Path,
    rendered: dict[str, list[RenderedFile]],
    switchboard: Switchboard,
    tmp_path: Path,
) -> None:
    market, school = rendered["gw-market"], rendered["gw-school"]
    switchboard.roots["gw-market"] = router_root(tmp_path / "m", market)
    switchboard.roots["gw-school"] = router_root(
        tmp_path / "s", school, **_variant("option changed", school)
    )
    # relay-clinic: no route
    result = _cli(example_copy, "push", "--dry-run", "--node", "gw-*", "--node", "relay-clinic")
    assert result.exit_code == 1
    out = result.output
    assert "no router was changed" in out
    assert "gw-market: unchanged (in sync)" in out
    assert "gw-school: would push" in out and "system: @system[0].hostname:" in out
    assert "relay-clinic: not checked — did not connect:" in out and "no route to host" in out
    for router in switchboard.routers:  # a look, nothing else
        paths = [f.path for f in rendered[router.target.node]]
        assert set(router.commands) <= {remote.inspect(paths), remote.fetch(paths)}
    as_json = json.loads(_cli(example_copy, "push", "--dry-run", "--json", "--node", "gw-*").output)
    assert {r["node"]: r["result"] for r in as_json} == {
        "gw-market": "unchanged",
        "gw-school": "would push",
    }


def test_push_dry_run_of_routers_in_sync_exits_zero(
    example_copy: Path,
    rendered: dict[str, list[RenderedFile]],
    switchboard: Switchboard,
    tmp_path: Path,
) -> None:
    for node in ("gw-market", "gw-school"):
        switchboard.roots[node] = router_root(tmp_path / node, rendered[node])
    result = _cli(example_copy, "push", "--dry-run", "--node", "gw-*")
    assert result.exit_code == 0, result.output


# --- 11: what the router-side scripts leave on flash ------------------------------


def _sh(root: Path, command: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """A script as the router runs it, under the common umask 022, moved under `root`."""
    return subprocess.run(
        ["/bin/sh", "-c", "umask 022; " + on_root(root, command)],
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
    )


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_backups_staging_and_applied_json_stay_private(tmp_path: Path) -> None:
    root = tmp_path / "router"
    meta = root / "etc" / "meshkeeper"
    (meta / "backup").mkdir(parents=True)
    meta.chmod(0o755)  # as earlier versions left it
    (meta / "backup").chmod(0o755)
    old_backup = meta / "backup" / "gen-1.tar"
    old_backup.write_bytes(b"an old backup")
    old_backup.chmod(0o644)
    (root / "etc" / "config").mkdir(parents=True)
    (root / "etc" / "init.d").mkdir(parents=True)
    (root / "etc" / "config" / "wireless").write_text(f"option key '{PASSPHRASE}'\n")
    (root / "etc" / "config" / "wireless").chmod(0o600)
    files = (
        RenderedFile("etc/config/system", b"config system\n", 0o644),
        RenderedFile("etc/config/wireless", b"config wifi-iface 'a'\n\toption key 'n'\n", 0o600),
    )
    target = SshTarget("n", "10.0.0.1", 22, "root", tmp_path / "id")
    archive = stage_archive(NodeChange("n", files, tree_hash(files), target), 2, [], target)

    for step, stdin in (
        (remote.PREPARE, archive),
        (remote.install_tools("gen-1.tar"), b""),
        (remote.INSTALL, b""),
        (remote.arm("gen-1.tar", 60).split(" && sync && ")[0], b""),  # the marker, no timer
    ):
        done = _sh(root, step, stdin)
        assert done.returncode == 0, done.stderr.decode()

    stage = root / "tmp" / "meshkeeper-stage"
    assert _mode(stage) == 0o700  # the new secrets wait here until the install
    assert _mode(meta) == 0o700 and _mode(meta / "backup") == 0o700
    backups = sorted((meta / "backup").iterdir())
    assert [p.name for p in backups] == ["gen-1.tar", "gen-1.tar.new"]
    assert all(_mode(p) == 0o600 for p in backups)  # the old key is in there
    with tarfile.open(meta / "backup" / "gen-1.tar") as tar:
        assert "etc/config/wireless" in tar.getnames()
    applied = meta / "applied.json"
    assert _mode(applied) == 0o600 and _mode(meta / "pending") == 0o600
    record = json.loads(applied.read_text())
    assert record["files"]["etc/config/wireless"] is None  # no offline check of a guess
    assert record["files"]["etc/config/system"] == hashlib.sha256(b"config system\n").hexdigest()
    assert (root / "etc" / "config" / "wireless").read_bytes() == files[1].data
    assert _mode(root / "etc" / "config" / "wireless") == 0o600
    assert _mode(meta / "rollback.sh") == 0o755 and _mode(meta / "apply.sh") == 0o755
    if os.geteuid() == 0:  # as on a router: tar and cp -p carry the rendered modes
        assert _mode(root / "etc" / "config" / "system") == 0o644


def test_the_rollback_record_is_private_and_the_reload_keeps_the_umask(tmp_path: Path) -> None:
    script = remote.ROLLBACK_SH
    record = script[script.index("record() {") : script.index("\nrestore() {")]
    meta = tmp_path / "meshkeeper"
    meta.mkdir()
    done = subprocess.run(
        [
            "/bin/sh",
            "-c",
            f"umask 022; M={meta}; logger() {{ :; }}; {record}\nrecord timer gen-1.tar; umask",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert _mode(meta / "rollbacks.log") == 0o600
    assert done.stdout.strip() == "0022"  # what the reloads after it inherit: unchanged
    assert "umask" not in remote.APPLY_SH  # the services it reloads keep the system's umask


def test_the_scripts_set_the_umask_where_they_make_files() -> None:
    assert remote.PREPARE.startswith("umask 077;")
    assert "umask 077;" in remote.install_tools("gen-1.tar")
    assert "umask 077;" in remote.INSTALL and "chmod 600 /etc/meshkeeper/applied.json.new" in (
        remote.INSTALL
    )
    assert "( umask 077 && echo gen-1.tar > /etc/meshkeeper/pending.tmp )" in remote.arm(
        "gen-1.tar", 60
    )
