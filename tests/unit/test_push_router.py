"""What the controller reads from a router: the inspect output, the neighbour count
(busybox nc and GNU netcat), packages a config needs, the router's own rollbacks,
and the reconciliation of pushes a dead controller left `applying`."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.push import packages, remote
from controller.push.node import (
    APPLY_FAILED,
    STILL_APPLYING,
    RouterView,
    _settle_verdict,
    describe_rollback,
    parse_view,
)
from controller.push.reconcile import settle
from controller.push.state import NodeState
from controller.render.tree import RenderedFile

FIXTURES = Path(__file__).parents[1] / "fixtures" / "openwrt"


def test_a_factory_2203_router_reads_as_never_pushed() -> None:
    view = parse_view((FIXTURES / "inspect-factory-22.03.4.txt").read_text())
    assert (view.generation, view.tree_hash, view.pending) == (0, None, None)
    assert view.neighbours == 0  # no babeld listening: none, not unknown
    assert view.apply_state == "" and view.rollbacks == []
    assert {"dropbear", "busybox", "firewall4", "uci"} <= view.packages
    assert "babeld" not in view.packages
    assert set(view.sums) == {"etc/config/system", "etc/config/dropbear"}


def _view(**parts: str) -> str:
    order = ("applied", "pending", "neighbours", "apply", "rollbacks", "packages", "sums")
    text = parts.get("applied", "")
    for name in order[1:]:
        text += f"\n--{name}--\n" + parts.get(name, "")
    return text


@pytest.mark.parametrize(
    ("printed", "count"), [("none", 0), ("3", 3), ("0", 0), ("unknown", None), ("", 0)]
)
def test_neighbour_count_is_a_number_or_unknown_never_a_silent_zero(
    printed: str, count: int | None
) -> None:
    assert parse_view(_view(neighbours=printed)).neighbours == count


def test_rollback_records_and_apply_state_are_read() -> None:
    view = parse_view(
        _view(
            applied='{"generation": 4, "hash": "abc", "files": {}}',
            pending="gen-4.tar",
            apply="failed 5: settle ssh-listener",
            rollbacks="1764756000 timer gen-3.tar\n1764757000 boot gen-4.tar\n",
        )
    )
    assert view.generation == 4 and view.pending == "gen-4.tar"
    assert view.apply_state == "failed 5: settle ssh-listener"
    assert describe_rollback(view.rollbacks[-1]) == (
        "restored at boot: a push was still unconfirmed when it powered up, "
        "back to gen-4.tar at 2025-12-03 10:16:40 UTC"
    )
    assert describe_rollback("garbage\x1b[2J") == "garbage\\x1b[2J"
    assert describe_rollback(f"{'9' * 5000} timer gen-1.tar").startswith("9999")
    assert describe_rollback("1 timer gen-\u202e1.tar").endswith(
        "gen-\\u202e1.tar at 1970-01-01 00:00:01 UTC"
    )


@pytest.mark.parametrize(
    "record",
    [
        '{"generation": 1e400, "hash": "abc"}',
        '{"generation": [1], "hash": "abc"}',
        '{"generation": 2, "files": 5}',
        '{"generation": 2, "hash": ["abc"]}',
        '{"generation": ' + "9" * 5000 + "}",
        "[" * 100_000,
        "[]",
        "null",
        '{"generation": 2, "files": {"etc/config/system": null}',
    ],
)
def test_a_broken_applied_record_reads_as_never_pushed(record: str) -> None:
    view = parse_view(_view(applied=record, neighbours="2"))
    assert view.generation == 0 and view.tree_hash is None and view.files == []
    assert view.neighbours == 2  # the rest of what the router said is still read


# --- the neighbour count as the router runs it, against a babeld-like local socket


@pytest.fixture
def babel_socket() -> Iterator[None]:
    """A listener on [::1]:33123 answering like babeld's local interface."""
    server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("::1", 33123))
    except OSError as exc:  # pragma: no cover - only when something else holds the port
        pytest.fail(f"cannot bind [::1]:33123 for the test: {exc}")
    server.listen(4)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"BABEL 1.0\nversion babeld-1.12\nhost r1\nok\n")
                asked = b""
                while b"quit" not in asked:
                    chunk = conn.recv(64)
                    if not chunk:
                        break
                    asked += chunk
                conn.sendall(
                    b"add neighbour 1 address fe80::1 if mesh0 reach ffff rxcost 96 "
                    b"txcost 96 cost 96\n"
                    b"add neighbour 2 address fe80::2 if lan1 reach ff00 rxcost 96 "
                    b"txcost 96 cost 96\nok\n"
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()
    server.close()


def _tool(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


BUSYBOX_NC = (
    "#!/usr/bin/python3\n"
    "import socket, sys\n"
    "args = sys.argv[1:]\n"
    "args = args[1:] if args and args[0] == 'nc' else args\n"
    "s = socket.create_connection((args[0], int(args[1])))\n"
    "s.sendall(sys.stdin.buffer.read())\n"
    "s.shutdown(socket.SHUT_WR)\n"
    "sys.stdout.buffer.write(b''.join(iter(lambda: s.recv(4096), b'')))\n"
)
# GNU netcat 0.7.1, OpenWrt's `netcat` package: no IPv6 (FIELD-NOTES)
GNU_NC = '#!/bin/sh\necho "Error: Couldn\'t resolve host \\"$1\\"" >&2\nexit 1\n'


def _count(tools: Path) -> str:
    env = {**os.environ, "PATH": f"{tools}:/usr/bin:/bin"}
    out = subprocess.run(
        ["sh", "-c", remote.NEIGHBOURS], capture_output=True, text=True, env=env, check=False
    )
    return out.stdout.strip()


def test_neighbours_counted_with_busybox_nc(babel_socket: None, tmp_path: Path) -> None:
    _tool(tmp_path, "busybox", BUSYBOX_NC)
    _tool(tmp_path, "nc", GNU_NC)  # the netcat package took `nc`: busybox's still answers
    assert _count(tmp_path) == "2"


def test_gnu_netcat_alone_is_unknown_not_zero(babel_socket: None, tmp_path: Path) -> None:
    _tool(tmp_path, "nc", GNU_NC)
    assert _count(tmp_path) == "unknown"


def test_no_babeld_is_none(tmp_path: Path) -> None:
    _tool(tmp_path, "nc", GNU_NC)
    assert _count(tmp_path) == "none"


# --- packages


def _file(name: str, text: str) -> RenderedFile:
    return RenderedFile(f"etc/config/{name}", text.encode(), 0o644)


def test_a_babel_mesh_radio_with_sae_needs_babeld_and_a_mesh_wpad() -> None:
    files = [
        _file("babeld", "config general 'general'\n\toption local_port '33123'\n"),
        _file("network", "config interface 'mesh'\n\toption proto 'static'\n"),
        _file(
            "wireless",
            "config wifi-iface 'mesh0'\n\toption mode 'mesh'\n\toption encryption 'sae'\n",
        ),
    ]
    wanted = packages.needs(files)
    assert wanted == [packages.BABELD, packages.MESH_WPAD, packages.SAE_WPAD]
    factory = parse_view((FIXTURES / "inspect-factory-22.03.4.txt").read_text()).packages
    gaps = packages.missing(wanted, factory)
    assert gaps == wanted  # a stock 22.03 image: wpad-basic at best, no babeld
    message = packages.refusal("leaf-1", gaps)
    assert "babeld" in message and "wpad-mesh-openssl" in message
    assert packages.missing(wanted, {"babeld", "wpad-mesh-wolfssl"}) == []
    assert packages.missing(wanted, {"babeld", "wpad-basic-wolfssl"}) == [packages.MESH_WPAD]


def test_batman_needs_its_kernel_module_and_the_lab_is_not_judged() -> None:
    files = [_file("network", "config interface 'bat0'\n\toption proto 'batadv'\n")]
    assert packages.needs(files) == [packages.BATMAN]
    assert packages.missing(packages.needs(files), {"batctl-default"}) == [packages.BATMAN]
    assert packages.missing(packages.needs(files), {packages.NO_DATABASE}) == []


# --- a push the controller never finished


def _state(rendered: str = "new") -> NodeState:
    return NodeState("n", 3, rendered, "old", "applying", None, 0.0)


def test_reconcile_applying_from_what_the_router_holds() -> None:
    confirmed = RouterView(generation=4, tree_hash="new")
    assert settle(_state(), confirmed).status == "applied"
    waiting = RouterView(generation=4, tree_hash="new", pending="gen-3.tar")
    assert settle(_state(), waiting).status == "applying"
    restored = RouterView(generation=3, tree_hash="old", rollbacks=["1764757000 boot gen-3.tar"])
    outcome = settle(_state(), restored)
    assert outcome.status == "rolled_back" and outcome.generation == 3
    assert outcome.error is not None and "restored at boot" in outcome.error


# --- what apply.sh reports, as the controller reads it


def _outcome(state: str, pending: str, log: str = "") -> str:
    return f"{state}\n--pending--\n{pending}\n--log--\n{log}"


def test_settle_verdicts() -> None:
    assert _settle_verdict(_outcome("settled 5", "gen-4.tar"), 5, "gen-4.tar") is None
    assert _settle_verdict(_outcome("applying 5", "gen-4.tar"), 5, "gen-4.tar") == STILL_APPLYING
    assert _settle_verdict(_outcome("", "gen-4.tar"), 5, "gen-4.tar") == STILL_APPLYING
    # an older generation's outcome is not this push's
    assert _settle_verdict(_outcome("settled 4", "gen-4.tar"), 5, "gen-4.tar") == STILL_APPLYING
    failed = _settle_verdict(
        _outcome(
            "failed 5: ssh-listener",
            "gen-4.tar",
            "step reload_config exit 0\nnothing listens for SSH on the management address\n",
        ),
        5,
        "gen-4.tar",
    )
    assert failed is not None and failed.startswith(APPLY_FAILED)
    assert "ssh-listener" in failed and "nothing listens for SSH" in failed
    # a power cut: the boot hook restored the old config and /tmp is empty
    gone = _settle_verdict(_outcome("", ""), 5, "gen-4.tar")
    assert gone is not None and "stopped waiting" in gone
