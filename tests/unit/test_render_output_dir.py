"""`render -o DIR`: nothing outside DIR is ever read, written or deleted, and a
path meshkeeper cannot use is a clear error, never an internal one.

The outside world is a directory `outside/` next to DIR holding files that must
survive every test byte for byte; links planted inside DIR point into it.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from controller.cli import cli
from controller.errors import MeshkeeperError
from controller.render.tree import MARKER, RenderedFile, write_tree
from tests.conftest import ROOT

SECRET = b"wpa-key-SECRET-do-not-leak\n"


def _node(tag: str) -> list[RenderedFile]:
    return [
        RenderedFile("etc/config/network", f"network of {tag}\n".encode(), 0o644),
        RenderedFile("etc/config/wireless", SECRET, 0o600),
        RenderedFile("etc/dropbear/authorized_keys", b"ssh-ed25519 AAAA lab\n", 0o600),
    ]


RENDERED = {"gw-market": _node("gw-market"), "leaf-hillside": _node("leaf-hillside")}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files that are not meshkeeper's: every test asserts they survive untouched."""
    folder = tmp_path / "outside"
    (folder / "sub").mkdir(parents=True)
    (folder / "precious.txt").write_bytes(b"keep me\n")
    (folder / "sub" / "also.txt").write_bytes(b"keep me too\n")
    return folder


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """DIR after one clean render of RENDERED."""
    folder = tmp_path / "out"
    write_tree(folder, RENDERED, prune=True)
    return folder


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry under folder (links not followed): its mode and bytes or link target."""
    found: dict[str, tuple[int, bytes]] = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            data = str(path.readlink()).encode()
        elif stat.S_ISREG(info.st_mode):
            data = path.read_bytes()
        else:
            data = b""
        found[str(path.relative_to(folder))] = (info.st_mode, data)
    return found


ORIGINAL = {
    "precious.txt": (stat.S_IFREG | 0o644, b"keep me\n"),
    "sub": (stat.S_IFDIR | 0o755, b""),
    "sub/also.txt": (stat.S_IFREG | 0o644, b"keep me too\n"),
}


def _assert_untouched(outside: Path) -> None:
    now = _snapshot(outside)
    assert {k: v[1] for k, v in now.items()} == {k: v[1] for k, v in ORIGINAL.items()}
    assert set(now) == set(ORIGINAL), "something was written into or deleted from outside/"


def _swap_for_link(path: Path, target: Path) -> None:
    """What an attacker with write access to DIR does between our check and our use."""
    if path.is_dir() and not path.is_symlink():
        for child in sorted(path.rglob("*"), reverse=True):
            child.rmdir() if child.is_dir() and not child.is_symlink() else child.unlink()
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


# --- class 1: links inside DIR are never followed ---------------------------------------


@pytest.mark.parametrize("prune", [True, False])
def test_node_directory_that_is_a_symlink_is_refused(
    tmp_path: Path, outside: Path, prune: bool
) -> None:
    folder = tmp_path / "out"
    write_tree(folder, {"gw-market": RENDERED["gw-market"]}, prune=True)
    (folder / "leaf-hillside").symlink_to(outside)
    with pytest.raises(MeshkeeperError, match=r"leaf-hillside is a symlink .*remove it"):
        write_tree(folder, RENDERED, prune=prune)
    _assert_untouched(outside)
    assert (folder / "leaf-hillside").is_symlink()  # refused, left as the operator made it


@pytest.mark.parametrize(
    "link", ["gw-market/etc", "gw-market/etc/config", "gw-market/etc/dropbear"]
)
def test_directory_inside_a_node_that_is_a_symlink_is_refused(
    out: Path, outside: Path, link: str
) -> None:
    _swap_for_link(out / link, outside)
    changed = {"gw-market": [RenderedFile(f.path, f.data + b"#2\n", f.mode) for f in _node("x")]}
    with pytest.raises(MeshkeeperError, match=rf"{out / link} is a symlink"):
        write_tree(out, changed, prune=False)
    _assert_untouched(outside)


@pytest.mark.parametrize("dangling", [False, True])
def test_file_that_is_a_symlink_is_refused_not_written_through(
    out: Path, outside: Path, dangling: bool
) -> None:
    target = outside / ("created-by-meshkeeper" if dangling else "precious.txt")
    _swap_for_link(out / "gw-market/etc/config/wireless", target)
    with pytest.raises(MeshkeeperError, match=r"etc/config/wireless is a symlink .*remove it"):
        write_tree(out, RENDERED, prune=True)
    _assert_untouched(outside)
    assert not target.exists() or target.read_bytes() == b"keep me\n"


@pytest.mark.parametrize("dangling", [False, True])
def test_marker_that_is_a_symlink_is_refused(tmp_path: Path, outside: Path, dangling: bool) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / MARKER).symlink_to(outside / ("nothing" if dangling else "precious.txt"))
    (folder / "old-node").symlink_to(outside)
    with pytest.raises(MeshkeeperError, match=rf"{MARKER} is a symlink"):
        write_tree(folder, RENDERED, prune=True)
    _assert_untouched(outside)


def test_stale_links_inside_a_node_are_unlinked_never_followed(out: Path, outside: Path) -> None:
    node = out / "gw-market"
    (node / "etc/config/old-file").symlink_to(outside / "precious.txt")
    (node / "etc/old-dir").symlink_to(outside)
    (node / "etc/dangling").symlink_to(outside / "nothing")
    changed = write_tree(out, RENDERED, prune=True)
    assert changed == [
        "gw-market/etc/config/old-file (removed)",
        "gw-market/etc/dangling (removed)",
        "gw-market/etc/old-dir (removed)",
    ]
    assert not any(p.is_symlink() for p in out.rglob("*"))
    _assert_untouched(outside)


def test_prune_unlinks_links_and_never_their_targets(out: Path, outside: Path) -> None:
    (out / "old-link").symlink_to(outside)
    (out / "old-file-link").symlink_to(outside / "precious.txt")
    old = out / "old-node" / "etc"
    old.mkdir(parents=True)
    (old / "into-outside").symlink_to(outside)
    (old / "to-a-file").symlink_to(outside / "precious.txt")
    (old / "stale").write_text("stale")
    assert write_tree(out, RENDERED, prune=False) == []  # a partial render prunes nothing
    assert (out / "old-link").is_symlink()
    changed = write_tree(out, RENDERED, prune=True)
    assert changed == ["old-file-link (removed)", "old-link (removed)", "old-node/ (removed)"]
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "gw-market", "leaf-hillside"]
    _assert_untouched(outside)


def test_leftover_temp_file_that_is_a_symlink_is_not_followed(out: Path, outside: Path) -> None:
    config = out / "gw-market/etc/config"
    (config / ".wireless.tmp").symlink_to(outside / "precious.txt")
    new = {"gw-market": [RenderedFile("etc/config/wireless", SECRET + b"v2\n", 0o600)]}
    assert write_tree(out, new, prune=False)[0] == "gw-market/etc/config/wireless"
    assert (config / "wireless").read_bytes() == SECRET + b"v2\n"
    _assert_untouched(outside)


def test_output_directory_itself_may_be_a_symlink(tmp_path: Path) -> None:
    """DIR as given is the operator's choice and is followed; nothing below it is."""
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert len(write_tree(link, RENDERED, prune=True)) == 6
    assert (real / "gw-market/etc/config/wireless").read_bytes() == SECRET
    assert stat.S_IMODE((real / "gw-market/etc/config/wireless").stat().st_mode) == 0o600
    assert write_tree(link, RENDERED, prune=True) == []


@pytest.mark.parametrize(
    ("node", "path"),
    [("..", "etc/config/x"), ("a/b", "etc/config/x"), ("", "x"), ("n", "../../x"), ("n", "/x")],
)
def test_names_cannot_climb_out_of_dir(tmp_path: Path, node: str, path: str) -> None:
    folder = tmp_path / "deep" / "out"
    with pytest.raises(MeshkeeperError, match="not a plain name"):
        write_tree(folder, {node: [RenderedFile(path, SECRET, 0o600)]}, prune=False)
    assert list(tmp_path.iterdir()) == []  # checked before anything is created


def test_a_stale_tree_deeper_than_meshkeeper_writes_is_an_error_not_a_crash(
    out: Path, outside: Path
) -> None:
    deep = out / "old-node" / "/".join(["d"] * 40)
    deep.mkdir(parents=True)
    (deep / "link").symlink_to(outside)
    with pytest.raises(MeshkeeperError, match=r"nested deeper than meshkeeper ever writes"):
        write_tree(out, RENDERED, prune=True)
    _assert_untouched(outside)


def test_marker_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    (folder / MARKER).mkdir(parents=True)
    with pytest.raises(MeshkeeperError, match=rf"{MARKER} is not a regular file"):
        write_tree(folder, RENDERED, prune=True)
    assert sorted(p.name for p in folder.iterdir()) == [MARKER]


def test_only_changes_are_rewritten_with_exact_modes(out: Path) -> None:
    wireless = out / "gw-market/etc/config/wireless"
    before = wireless.stat().st_ino
    assert write_tree(out, RENDERED, prune=True) == []
    assert wireless.stat().st_ino == before  # untouched, not rewritten
    wireless.chmod(0o644)  # same bytes, wrong mode: rewritten 0600
    old_umask = os.umask(0o077)
    try:
        assert write_tree(out, RENDERED, prune=True) == ["gw-market/etc/config/wireless"]
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(wireless.stat().st_mode) == 0o600
    network = out / "gw-market/etc/config/network"
    assert stat.S_IMODE(network.stat().st_mode) == 0o644
    assert not list(out.rglob("*.tmp"))


# --- class 1: races, a directory swapped for a link between check and use --------------


def _same(where: str | int | os.PathLike[str], folder: Path) -> bool:
    try:
        info = os.fstat(where) if isinstance(where, int) else Path(where).stat()
        return os.path.samestat(info, folder.lstat())
    except OSError:
        return False


class _Listing:
    """A directory listing taken before the swap, as a real race would see it."""

    def __init__(self, entries: list[Any]) -> None:
        self._it = iter(entries)

    def __enter__(self) -> _Listing:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def __iter__(self) -> Iterator[Any]:
        return self._it

    def __next__(self) -> Any:
        return next(self._it)

    def close(self) -> None:
        return None


def _swap_when_listing(
    monkeypatch: pytest.MonkeyPatch, folder: Path, victim: Path, target: Path
) -> list[bool]:
    """Right after `folder` is listed, replace `victim` in it by a link to `target`."""
    swapped: list[bool] = []
    real_scandir, real_listdir = os.scandir, os.listdir

    def swap(where: Any) -> None:
        if not swapped and _same(where, folder):
            _swap_for_link(victim, target)
            swapped.append(True)

    def scandir(where: Any = ".") -> Any:
        with real_scandir(where) as it:
            entries = list(it)
        swap(where)
        return _Listing(entries)

    def listdir(where: Any = ".") -> list[str]:
        names = real_listdir(where)
        swap(where)
        return names

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)
    return swapped


def test_race_new_directory_swapped_for_a_link_after_mkdir(
    tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"
    victim = folder / "gw-market" / "etc"
    real_mkdir = os.mkdir

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        real_mkdir(path, *args, **kwargs)
        if os.fsdecode(path).endswith("etc") and not victim.is_symlink():
            _swap_for_link(victim, outside)

    monkeypatch.setattr(os, "mkdir", mkdir)
    with pytest.raises(MeshkeeperError, match=rf"{victim} is a symlink"):
        write_tree(folder, RENDERED, prune=True)
    assert victim.is_symlink()
    _assert_untouched(outside)


def test_race_stale_directory_swapped_for_a_link_while_walking(
    out: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = out / "gw-market" / "extra"
    extra.mkdir()
    (extra / "old.txt").write_text("stale")
    swapped = _swap_when_listing(monkeypatch, out / "gw-market", extra, outside)
    changed = write_tree(out, RENDERED, prune=True)
    monkeypatch.undo()
    assert swapped
    assert "gw-market/extra (removed)" in changed
    assert not extra.is_symlink()
    _assert_untouched(outside)


def test_race_pruned_node_swapped_for_a_link_while_pruning(
    out: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = out / "old-node" / "etc"
    old.mkdir(parents=True)
    (old / "x").write_text("stale")
    swapped = _swap_when_listing(monkeypatch, out, out / "old-node", outside)
    changed = write_tree(out, RENDERED, prune=True)
    monkeypatch.undo()
    assert swapped
    assert changed == ["old-node (removed)"]
    assert not (out / "old-node").is_symlink()
    _assert_untouched(outside)


def test_race_changed_file_swapped_for_a_link_before_rename(
    out: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename replaces whatever sits at the name; it never writes through a link."""
    victim = out / "gw-market/etc/config/wireless"
    real_rename, real_replace = os.rename, os.replace

    def swapping(real: Callable[..., None]) -> Callable[..., None]:
        def call(src: Any, dst: Any, **kwargs: Any) -> None:
            if not victim.is_symlink():
                _swap_for_link(victim, outside / "precious.txt")
            real(src, dst, **kwargs)

        return call

    monkeypatch.setattr(os, "rename", swapping(real_rename))
    monkeypatch.setattr(os, "replace", swapping(real_replace))
    new = {"gw-market": [RenderedFile("etc/config/wireless", SECRET + b"v2\n", 0o600)]}
    write_tree(out, new, prune=False)
    monkeypatch.undo()
    assert not victim.is_symlink()
    assert victim.read_bytes() == SECRET + b"v2\n"
    _assert_untouched(outside)


def test_race_link_planted_at_the_temp_name(
    out: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = out / "gw-market/etc/config/.wireless.tmp"
    real_unlink = os.unlink

    def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        try:
            real_unlink(path, *args, **kwargs)
        finally:
            if os.fsdecode(path).endswith(".wireless.tmp") and not tmp.is_symlink():
                tmp.symlink_to(outside / "precious.txt")

    monkeypatch.setattr(os, "unlink", unlink)
    new = {"gw-market": [RenderedFile("etc/config/wireless", SECRET + b"v2\n", 0o600)]}
    with pytest.raises(MeshkeeperError, match=r"\.wireless\.tmp.*(exists|symlink)"):
        write_tree(out, new, prune=False)
    monkeypatch.undo()
    _assert_untouched(outside)
    assert (out / "gw-market/etc/config/wireless").read_bytes() == SECRET


# --- class 12: a path meshkeeper cannot use is a clear operator error -------------------


def _render(inventory: Path, output: Path) -> Any:
    return CliRunner().invoke(cli, ["render", "-i", str(inventory), "-o", str(output)])


def _assert_clear_error(result: Any, path: Path) -> None:
    assert isinstance(result.exception, SystemExit), result.exception  # no escaped OSError
    assert result.exit_code != 0
    assert "internal error" not in result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {path}"), lines[0]
    assert " — " in lines[0]  # and what to do about it


def _a_file(tmp_path: Path) -> Path:
    (tmp_path / "afile").write_text("mine\n")
    return tmp_path / "afile"


def _dangling(tmp_path: Path) -> Path:
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    return tmp_path / "dangling"


def _under_a_file(tmp_path: Path) -> Path:
    return _a_file(tmp_path) / "sub"


def _link_to_a_file(tmp_path: Path) -> Path:
    (tmp_path / "filelink").symlink_to(_a_file(tmp_path))
    return tmp_path / "filelink"


def _node_dir_is_a_file(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    write_tree(folder, {}, prune=True)
    (folder / "gw-market").write_text("not a directory\n")
    return folder


def _node_dir_is_a_link(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    write_tree(folder, {}, prune=True)
    (folder / "gw-market").symlink_to(tmp_path)
    return folder


def _file_is_a_directory(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    write_tree(folder, {}, prune=True)
    (folder / "gw-market/etc/config/wireless").mkdir(parents=True)
    return folder


def _file_is_a_fifo(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    write_tree(folder, {}, prune=True)
    (folder / "gw-market/etc/config").mkdir(parents=True)
    os.mkfifo(folder / "gw-market/etc/config/wireless")
    return folder


@pytest.mark.parametrize(
    "make",
    [
        _a_file,
        _dangling,
        _under_a_file,
        _link_to_a_file,
        _node_dir_is_a_file,
        _node_dir_is_a_link,
        _file_is_a_directory,
        _file_is_a_fifo,
    ],
)
def test_unusable_output_is_a_clear_error_through_the_cli(
    example_copy: Path, tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    output = make(tmp_path)
    before = _outside_out(tmp_path)
    result = _render(example_copy, output)
    _assert_clear_error(result, output)
    assert _outside_out(tmp_path) == before  # e.g. nothing written through out/gw-market


def _outside_out(tmp_path: Path) -> dict[str, tuple[int, bytes]]:
    return {k: v for k, v in _snapshot(tmp_path).items() if not k.startswith("out/")}


def test_unusable_output_through_the_installed_entry_point(
    example_copy: Path, tmp_path: Path
) -> None:
    """The real `main()`, whose last resort prints 'internal error': it must not."""
    output = _under_a_file(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "controller", "render", "-i", str(example_copy), "-o", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {output}: ")
    assert "Not a directory" in result.stderr
    assert "internal error" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.EACCES, "Permission denied"),
        (errno.ENOSPC, "No space left on device"),
        (errno.EROFS, "Read-only file system"),
        (errno.EIO, "Input/output error"),
    ],
)
@pytest.mark.parametrize("when", ["creating", "replacing"])
def test_any_os_error_while_writing_names_the_file_and_the_reason(
    out: Path, monkeypatch: pytest.MonkeyPatch, code: int, reason: str, when: str
) -> None:
    """Errors a test cannot cause without root (a full disk, a read-only mount, no permission)."""
    real_open = os.open
    if when == "creating":
        (out / "gw-market/etc/config/wireless").unlink()

    def failing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT and "wireless" in os.fsdecode(path):
            raise OSError(code, os.strerror(code), os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing_open)
    new = {"gw-market": [RenderedFile("etc/config/wireless", SECRET + b"v2\n", 0o600)]}
    with pytest.raises(MeshkeeperError) as caught:
        write_tree(out, new, prune=False)
    monkeypatch.undo()
    message = str(caught.value)
    assert f"{out / 'gw-market/etc/config/'}" in message
    assert reason in message
    assert " — " in message
    assert not (out / "gw-market/etc/config/.wireless.tmp").exists()
