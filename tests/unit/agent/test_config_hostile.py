"""`meshkeeper-agent check` against hostile or broken config files.

Whatever the file is (huge numbers, deep nesting, a device, a FIFO, duplicate
keys, settings the README promises to refuse), `check` answers with one line
that names the file and the JSON path, exits 2, and never prints a traceback
or hangs. Cases that could hang or eat memory run in a child process with a
timeout and an address-space limit.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from controller.render.agent_config import password_hash
from tests.unit.agent.conftest import MINIMAL

ROOT = Path(__file__).resolve().parents[3]
FIX = "fix it in the inventory and push again"
GOOD_HASH = password_hash("correct horse battery staple", bytes(16))
HUGE = "9" * 5000  # past Python's 4300-digit int limit


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check", "--config", str(path)])
    out, err = capsys.readouterr()
    assert out == "" or code == 0
    return code, err


def assert_refused(code: int, err: str, path: Path, where: str, says: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err[:500]
    assert lines[0].startswith(f"meshkeeper-agent: {path}: {where}"), lines[0][:300]
    assert says in lines[0], lines[0][:300]
    assert len(lines[0]) < 400  # an operator's line, not a dump of the file
    assert lines[0].isprintable()


def with_listen(**listen: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data["listen"].update(listen)
    return data


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.json"
    path.write_text(text, encoding="utf-8")
    return path


# --- numbers and nesting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        pytest.param(
            json.dumps(MINIMAL).replace("9110", HUGE),
            "$.listen.port",
            "must be an integer from 1 to 65535",
            id="huge-port",
        ),
        pytest.param(
            json.dumps(MINIMAL).replace('"version": 1', f'"version": {HUGE}'),
            "$.version",
            "this agent reads version 1",
            id="huge-version",
        ),
        pytest.param(
            json.dumps({**MINIMAL, "collectors": {"system": 1}}).replace(
                '"system": 1', f'"system": {HUGE}'
            ),
            "$.collectors.system",
            "must be an integer from 1 to 3600",
            id="huge-interval",
        ),
        pytest.param(
            json.dumps(MINIMAL).replace("9110", "NaN"),
            "$.listen.port",
            "must be an integer from 1 to 65535",
            id="nan-port",
        ),
        pytest.param(
            json.dumps(MINIMAL).replace("9110", "1e999"),
            "$.listen.port",
            "must be an integer from 1 to 65535",
            id="infinite-port",
        ),
        pytest.param(
            json.dumps({**MINIMAL, "mesh": "X"}).replace('"X"', "[" * 100_000 + "]" * 100_000),
            "$",
            "nested too deeply",
            id="deep-list",
        ),
        pytest.param(
            json.dumps({**MINIMAL, "mesh": "X"}).replace(
                '"X"', '{"a":' * 100_000 + "1" + "}" * 100_000
            ),
            "$",
            "nested too deeply",
            id="deep-object",
        ),
        pytest.param(
            json.dumps({**MINIMAL, "node": "\ud800"}),
            "$.node",
            "must be a non-empty string without control characters",
            id="lone-surrogate",
        ),
        pytest.param(
            json.dumps({**MINIMAL, "\x1b[31mred": 1}),
            "$",
            "unknown key",
            id="control-characters-in-a-key",
        ),
        pytest.param(
            json.dumps(with_listen(address="1" * 100_000)),
            "$.listen.address",
            "is not an IP address",
            id="huge-address",
        ),
    ],
)
def test_hostile_values_are_one_line_with_their_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, where: str, says: str
) -> None:
    path = written(tmp_path, text)
    code, err = check(path, capsys)
    assert_refused(code, err, path, where, says)


# --- duplicate keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param(
            json.dumps(MINIMAL)[:-1] + ', "listen": {"address": "10.31.0.10", "port": 1}}',
            "$.listen",
            id="top-level",
        ),
        pytest.param(json.dumps(MINIMAL).replace('"port": 9110', '"port": 9110, "port": 1'),
                     "$.listen.port", id="nested"),
        pytest.param(
            json.dumps({**MINIMAL, "collectors": {"system": 15}}).replace(
                '"system": 15', '"system": 15, "system": 30'
            ),
            "$.collectors.system",
            id="collector",
        ),
    ],
)  # fmt: skip
def test_duplicate_keys_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, where: str
) -> None:
    path = written(tmp_path, text)
    code, err = check(path, capsys)
    assert_refused(code, err, path, where, "appears more than once")


# --- what the README promises to refuse ---------------------------------------------------


@pytest.mark.parametrize(
    ("listen", "where", "says"),
    [
        ({"address": "0.0.0.0"}, "$.listen.address", "every interface"),  # noqa: S104
        ({"address": "::"}, "$.listen.address", "every interface"),
        ({"address": "::ffff:0.0.0.0"}, "$.listen.address", "every interface"),
        ({"address": "224.0.0.1"}, "$.listen.address", "every interface"),
        ({"trusted": ["0.0.0.0/0"]}, "$.listen.trusted[0]", "every address"),
        ({"trusted": ["10.31.255.250", "::/0"]}, "$.listen.trusted[1]", "every address"),
        ({"trusted": ["0.0.0.0"]}, "$.listen.trusted[0]", "every address"),  # noqa: S104
        ({"trusted": ["0.0.0.0/1"]}, "$.listen.trusted[0]", "far too many addresses"),
        ({"trusted": ["2000::/3"]}, "$.listen.trusted[0]", "far too many addresses"),
        ({"trusted": ["10.31.0.1/16"]}, "$.listen.trusted[0]", "not an address or network"),
        ({"trusted": ["noc.example"]}, "$.listen.trusted[0]", "not an address or network"),
        ({"trusted": "10.31.255.250"}, "$.listen.trusted", "must be a list"),
        ({"trusted": ["10.0.0.1"] * 17}, "$.listen.trusted", "at most 16"),
        (
            {"basic_auth": {"username": "p", "password_hash": GOOD_HASH}},
            "$.listen.basic_auth",
            "needs listen.tls",
        ),
    ],
)
def test_what_the_readme_refuses_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    listen: dict[str, Any],
    where: str,
    says: str,
) -> None:
    path = written(tmp_path, json.dumps(with_listen(**listen)))
    code, err = check(path, capsys)
    assert_refused(code, err, path, where, says)


def test_run_refuses_to_listen_everywhere(tmp_path: Path) -> None:
    path = written(tmp_path, json.dumps(with_listen(address="0.0.0.0")))  # noqa: S104
    result = run_in_child("run", path)  # refused before binding anything, so it ends
    assert result.returncode == 2
    assert result.stderr.startswith(f"meshkeeper-agent: {path}: $.listen.address: ")


# --- PBKDF2 parameters --------------------------------------------------------------------


def tls_files(tmp_path: Path) -> dict[str, str]:
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(tmp_path / "tls.key"),
            "-out", str(tmp_path / "tls.crt"), "-days", "2", "-subj", "/CN=agent",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return {"cert": str(tmp_path / "tls.crt"), "key": str(tmp_path / "tls.key")}


@pytest.mark.parametrize(
    ("iterations", "salt_hex", "says"),
    [
        ("1", "ab" * 16, "iterations must be from 10000 to 1000000"),
        ("9999", "ab" * 16, "iterations must be from 10000 to 1000000"),
        ("1000000000000", "ab" * 16, "iterations must be from 10000 to 1000000"),
        (HUGE, "ab" * 16, "iterations must be from 10000 to 1000000"),
        ("20000", "ab", "salt must be 8 to 64 bytes"),
        ("20000", "ab" * 65, "salt must be 8 to 64 bytes"),
    ],
    ids=["one", "just-below", "a-trillion", "5000-digits", "salt-1-byte", "salt-65-bytes"],
)
def test_absurd_pbkdf2_parameters_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], iterations: str, salt_hex: str, says: str
) -> None:
    hashed = f"pbkdf2_sha256${iterations}${salt_hex}${'cd' * 32}"
    auth = {"username": "p", "password_hash": hashed}
    path = written(tmp_path, json.dumps(with_listen(tls=tls_files(tmp_path), basic_auth=auth)))
    code, err = check(path, capsys)
    assert_refused(code, err, path, "$.listen.basic_auth.password_hash", says)


def test_tls_and_basic_auth_with_readable_files_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The control for the cases around it."""
    auth = {"username": "p", "password_hash": GOOD_HASH}
    listen = with_listen(tls=tls_files(tmp_path), basic_auth=auth, trusted=["10.31.255.250"])
    path = written(tmp_path, json.dumps(listen))
    assert main(["check", "--config", str(path)]) == 0, capsys.readouterr()


# --- TLS files ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["cert", "key", "client_ca"])
def test_tls_files_that_do_not_exist_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    tls: dict[str, str] = {**tls_files(tmp_path), "client_ca": str(tmp_path / "tls.crt")}
    tls[field] = str(tmp_path / "missing.pem")
    path = written(tmp_path, json.dumps(with_listen(tls=tls)))
    code, err = check(path, capsys)
    assert_refused(code, err, path, f"$.listen.tls.{field}", f"cannot read {tmp_path}/missing.pem")


def test_a_huge_tls_file_is_not_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tls = tls_files(tmp_path)
    with Path(tls["cert"]).open("ab") as cert:
        cert.truncate(2 << 30)  # sparse: OpenSSL would read all of it, looking for a PEM block
    path = written(tmp_path, json.dumps(with_listen(tls=tls)))
    code, err = check(path, capsys)
    assert_refused(code, err, path, "$.listen.tls.cert", "larger than 1 MiB")


def test_a_path_no_file_can_have_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", "agent\0.json"]) == 2
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        "meshkeeper-agent: 'agent\\x00.json': cannot read it: the path holds a NUL byte"
    ]


def test_a_tls_file_that_is_a_directory_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tls = {**tls_files(tmp_path), "cert": str(tmp_path)}
    path = written(tmp_path, json.dumps(with_listen(tls=tls)))
    code, err = check(path, capsys)
    assert_refused(code, err, path, "$.listen.tls.cert", "not a regular file")


def test_an_unreadable_tls_key_is_named(tmp_path: Path) -> None:
    tls = tls_files(tmp_path)
    Path(tls["key"]).chmod(0)
    path = written(tmp_path, json.dumps(with_listen(tls=tls)))
    # Root reads past file modes; without these capabilities it cannot.
    no_override = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    command = [sys.executable, "-m", "agent.cli", "check", "--config", str(path)]
    result = subprocess.run(
        [*(no_override * (os.geteuid() == 0)), *command],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert_refused(result.returncode, result.stderr, path, "$.listen.tls.key", "Permission denied")


def test_a_key_that_does_not_match_the_cert_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tls = tls_files(tmp_path)
    Path(tls["key"]).write_text("not a key\n")
    path = written(tmp_path, json.dumps(with_listen(tls=tls)))
    code, err = check(path, capsys)
    assert_refused(code, err, path, "$.listen.tls", "cannot load the TLS files")


# --- what the path points at --------------------------------------------------------------


def run_in_child(command: str, path: Path | str) -> subprocess.CompletedProcess[str]:
    """`meshkeeper-agent COMMAND` in a child process that may use 512 MiB and 10 s at most."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))

    return subprocess.run(
        [sys.executable, "-m", "agent.cli", command, "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
        preexec_fn=limit,  # the child alone is limited
    )


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_device_is_not_read(path: str) -> None:
    result = run_in_child("check", path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"meshkeeper-agent: {path}: not a regular file — pass agent.json with --config"
    ]


def test_a_fifo_is_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "agent.json"
    os.mkfifo(fifo)
    result = run_in_child("check", fifo)  # nobody ever writes to it: a blocking open would hang
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"meshkeeper-agent: {fifo}: not a regular file — pass agent.json with --config"
    ]


def test_a_directory_is_not_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = check(tmp_path, capsys)
    assert code == 2
    assert err.splitlines() == [
        f"meshkeeper-agent: {tmp_path}: not a regular file — pass agent.json with --config"
    ]


def test_a_huge_file_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    with path.open("wb") as out:
        out.truncate(2 << 30)  # 2 GiB, sparse: reading it whole would exceed the child's limit
    result = run_in_child("check", path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"meshkeeper-agent: {path}: larger than 1 MiB, which no agent.json is — "
        "pass agent.json with --config"
    ]


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    """Safety comes from checking what was opened, not from refusing links."""
    real = written(tmp_path, json.dumps(MINIMAL))
    link = tmp_path / "link.json"
    link.symlink_to(real)
    result = run_in_child("check", link)
    assert result.returncode == 0, result.stderr
