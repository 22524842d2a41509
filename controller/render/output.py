"""Writing rendered trees into the operator's output directory, safely.

    write_tree(DIR, {node: [RenderedFile]}, prune=...) ─► changed paths

DIR is meshkeeper's (it holds the marker file); nothing outside it is ever
read, written or deleted, and no symlink below it is followed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from controller.errors import MeshkeeperError

if TYPE_CHECKING:
    from controller.render.tree import RenderedFile

MARKER = ".meshkeeper-render"


def write_tree(root: Path, rendered: dict[str, list[RenderedFile]], *, prune: bool) -> list[str]:
    """Write each node's files under root/<node>/; rewrite only what changed.

    Files a node no longer has are removed; with `prune` (a full render),
    node directories of nodes no longer in the inventory too, but only in a
    directory meshkeeper made (it holds the marker file). Returns the
    changed paths.

    Nothing outside `root` is ever read, written or deleted. `root` itself,
    as the operator gave it, may be a symlink and is followed (once: it is
    opened, and everything below goes through that descriptor). Below it no
    symlink is ever followed:

    - a symlink where meshkeeper needs a directory (a node, `etc`, ...), a
      file it writes, or the marker is an error naming it: nothing is
      written through it and it is left for the operator to remove;
    - a symlink that is a stale entry (in a node's tree, or a top-level
      entry that is not a node in this render, with `prune`) is unlinked
      itself, never its target.

    Every directory is opened with O_NOFOLLOW relative to its parent's
    descriptor, and files are created with O_EXCL|O_NOFOLLOW and their final
    mode, so swapping a directory for a link mid-run cannot redirect a write
    or a delete. Any failure (a file where a directory must be, no space, no
    permission) is a MeshkeeperError naming the path and what to do.
    """
    for node, files in rendered.items():
        for file in files:
            _check_plain(node, file.path)
    # The helpers name the exact path that failed; this is the backstop for the rest.
    with _reported(root), _open_output(root) as top:
        _claim(top)
        changed: list[str] = []
        for node, files in rendered.items():
            changed += _write_node(top, node, files)
        if prune:
            changed += _prune(top, set(rendered))
    return changed


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted where a file goes must not hang the render.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_DEPTH = 16  # meshkeeper writes 3 levels below a node; deeper is not ours to walk
_TODO = "check the output directory (free space, permissions) or choose another with -o"


@dataclass(frozen=True)
class _Dir:
    """An open directory inside the output; `path` is only ever shown, never opened."""

    fd: int
    path: Path

    def __enter__(self) -> _Dir:
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)


@contextmanager
def _reported(path: Path, todo: str = _TODO) -> Iterator[None]:
    """An OSError becomes an operator error naming the path and the reason."""
    try:
        yield
    except OSError as exc:
        raise MeshkeeperError(f"{path}: {exc.strerror or exc} — {todo}") from exc


def _check_plain(node: str, path: str) -> None:
    for part in (node, *path.split("/")):
        if part in ("", ".", "..", MARKER) or "/" in part or "\0" in part:
            raise MeshkeeperError(
                f"cannot write {node!r}/{path!r}: {part!r} is not a plain name — node "
                "names and file paths must stay inside the output directory"
            )


def _open_output(root: Path) -> _Dir:
    todo = "choose a directory you can write to with -o"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        pass  # a file, or a link to nothing: opening it says which
    except OSError as exc:
        raise MeshkeeperError(f"{root}: {exc.strerror or exc} — {todo}") from exc
    try:
        return _Dir(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), root)
    except OSError as exc:
        if root.is_symlink() and not root.exists():
            what = f"is a symlink to {_link_target(root)}, which does not exist"
            todo = "create that directory, or choose another with -o"
        elif exc.errno == errno.ENOTDIR:
            what = "is not a directory"
        else:
            what = f"cannot be opened: {exc.strerror or exc}"
        raise MeshkeeperError(f"{root} {what} — {todo}") from exc


def _link_target(path: Path) -> str:
    try:
        return str(path.readlink())
    except OSError:
        return "?"


def _claim(top: _Dir) -> None:
    """Write only into a directory meshkeeper made, or an empty one it now marks."""
    with _reported(top.path / MARKER):
        try:
            info = os.stat(MARKER, dir_fd=top.fd, follow_symlinks=False)
        except FileNotFoundError:
            if _entries(top, 0):
                raise MeshkeeperError(
                    f"{top.path} is not empty and was not made by meshkeeper render — "
                    "choose an empty or new directory with -o"
                ) from None
            _create(top, MARKER, b"files rendered by meshkeeper; safe to delete\n", 0o644)
            return
    if not stat.S_ISREG(info.st_mode):
        raise _unusable(top, MARKER, "a regular file")


def _unusable(parent: _Dir, name: str, needed: str, exc: OSError | None = None) -> MeshkeeperError:
    """What sits at parent/name that meshkeeper cannot use as `needed`, and what to do."""
    path = parent.path / name
    try:
        info = os.stat(name, dir_fd=parent.fd, follow_symlinks=False)
    except OSError:
        reason = exc.strerror if exc and exc.strerror else "it cannot be used"
        return MeshkeeperError(f"{path}: {reason} — {_TODO}")
    if stat.S_ISLNK(info.st_mode):
        with suppress(OSError):
            return MeshkeeperError(
                f"{path} is a symlink (to {os.readlink(name, dir_fd=parent.fd)}); meshkeeper "
                "never follows links inside its output directory — remove it, or choose a "
                "new directory with -o"
            )
    if exc is not None and exc.errno == errno.EEXIST:
        return MeshkeeperError(
            f"{path} appeared while meshkeeper was writing it — is another render writing "
            "into the same directory? Run it again"
        )
    return MeshkeeperError(
        f"{path} is not {needed} — move it away (meshkeeper writes {needed} there), or "
        "choose a new directory with -o"
    )


def _subdir(parent: _Dir, name: str) -> _Dir:
    """parent/name opened as a directory, made first if missing; never through a link."""
    path = parent.path / name
    try:
        return _Dir(os.open(name, _DIR_FLAGS, dir_fd=parent.fd), path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _unusable(parent, name, "a directory", exc) from exc
    with _reported(path), suppress(FileExistsError):  # made meanwhile: the open decides
        os.mkdir(name, dir_fd=parent.fd)
    try:
        return _Dir(os.open(name, _DIR_FLAGS, dir_fd=parent.fd), path)
    except OSError as exc:
        raise _unusable(parent, name, "a directory", exc) from exc


def write_files(root: Path, files: list[RenderedFile]) -> list[str]:
    """write_tree for one tree written straight into root (no node directories):
    what root held that `files` no longer has is removed, with the same care."""
    for file in files:
        _check_plain("-", file.path)
    with _reported(root), _open_output(root) as top:
        _claim(top)
        return _write_files(top, "", files, keep={MARKER})


def _write_node(top: _Dir, node: str, files: list[RenderedFile]) -> list[str]:
    with _subdir(top, node) as folder:
        return _write_files(folder, f"{node}/", files, keep=set())


def _write_files(top: _Dir, shown: str, files: list[RenderedFile], keep: set[str]) -> list[str]:
    changed: list[str] = []
    with ExitStack() as opened:
        dirs: dict[tuple[str, ...], _Dir] = {(): top}
        for file in files:
            *folders, name = file.path.split("/")
            where = _folder(dirs, opened, tuple(folders))
            if _write(where, name, file.data, file.mode):
                changed.append(f"{shown}{file.path}")
        wanted = {file.path for file in files} | keep
        changed += [f"{shown}{rel} (removed)" for rel in _remove_stale(top, "", wanted)]
    return changed


def _folder(dirs: dict[tuple[str, ...], _Dir], opened: ExitStack, key: tuple[str, ...]) -> _Dir:
    """The node's directory `key`, opened (and made) one component at a time."""
    if key not in dirs:
        parent = _folder(dirs, opened, key[:-1])
        dirs[key] = opened.enter_context(_subdir(parent, key[-1]))
    return dirs[key]


def _write(where: _Dir, name: str, data: bytes, mode: int) -> bool:
    """Write `data` if it differs; a new file directly, a changed one by atomic rename."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=where.fd)
    except FileNotFoundError:
        _create(where, name, data, mode)
        return True
    except OSError as exc:
        raise _unusable(where, name, "a regular file", exc) from exc
    with _reported(where.path / name), os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _unusable(where, name, "a regular file")
        same_size = info.st_size == len(data) and stat.S_IMODE(info.st_mode) == mode
        if same_size and handle.read(len(data) + 1) == data:
            return False
    tmp = f".{name}.tmp"
    with _reported(where.path / tmp), suppress(FileNotFoundError):
        os.unlink(tmp, dir_fd=where.fd)  # a crash's leftover; a link is unlinked, not followed
    _create(where, tmp, data, mode)
    with _discarded_on_error(where, tmp), _reported(where.path / name):
        # rename replaces the name itself: a link swapped in meanwhile is replaced, not followed
        os.rename(tmp, name, src_dir_fd=where.fd, dst_dir_fd=where.fd)
    return True


def _create(where: _Dir, name: str, data: bytes, mode: int) -> None:
    # Created exclusively with its final mode: a secret is never readable by others,
    # not even briefly (fchmod only when the umask took bits away).
    try:
        fd = os.open(name, _NEW_FLAGS, mode, dir_fd=where.fd)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ELOOP):
            raise _unusable(where, name, "a regular file", exc) from exc
        raise MeshkeeperError(f"{where.path / name}: {exc.strerror or exc} — {_TODO}") from exc
    with (
        _discarded_on_error(where, name),
        _reported(where.path / name),
        os.fdopen(fd, "wb") as handle,
    ):
        if os.fstat(fd).st_mode & 0o777 != mode:
            os.fchmod(fd, mode)
        handle.write(data)


@contextmanager
def _discarded_on_error(where: _Dir, name: str) -> Iterator[None]:
    """A half-written file is not left behind."""
    try:
        yield
    except BaseException:
        with suppress(OSError):
            os.unlink(name, dir_fd=where.fd)
        raise


def _remove_stale(folder: _Dir, prefix: str, wanted: set[str], depth: int = 0) -> list[str]:
    """Remove entries (files, links) under folder the node no longer has; the removed paths."""
    removed: list[str] = []
    for entry in _entries(folder, depth):
        rel = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            sub = _existing_subdir(folder, entry.name)
            if sub is not None:
                with sub:
                    removed += _remove_stale(sub, rel + "/", wanted, depth + 1)
                continue
        if rel not in wanted and _unlink(folder, entry.name):
            removed.append(rel)
    return removed


def _entries(folder: _Dir, depth: int) -> list[os.DirEntry[str]]:
    if depth > _MAX_DEPTH:
        raise MeshkeeperError(
            f"{folder.path} is nested deeper than meshkeeper ever writes — remove it by hand"
        )
    with _reported(folder.path), os.scandir(folder.fd) as listing:
        return sorted(listing, key=lambda entry: entry.name)


def _existing_subdir(parent: _Dir, name: str) -> _Dir | None:
    """parent/name opened as a directory; None when it is (now) a link, a file or gone."""
    try:
        return _Dir(os.open(name, _DIR_FLAGS, dir_fd=parent.fd), parent.path / name)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a symlink since it was listed
            return None
        raise _unusable(parent, name, "a directory", exc) from exc


def _unlink(folder: _Dir, name: str) -> bool:
    """Remove one entry (a link itself, never its target); False when already gone."""
    with _reported(folder.path / name, "remove it by hand, then render again"):
        try:
            os.unlink(name, dir_fd=folder.fd)
        except FileNotFoundError:
            return False
    return True


def _prune(top: _Dir, nodes: set[str]) -> list[str]:
    """Remove node directories (and stray links) of nodes not in this render."""
    removed: list[str] = []
    for entry in _entries(top, 0):
        if entry.name in nodes or entry.name == MARKER:
            continue
        if entry.is_dir(follow_symlinks=False):
            if _remove_tree(top, entry.name, 0):
                removed.append(f"{entry.name}/ (removed)")
            elif _unlink(top, entry.name):  # a link swapped in since the listing
                removed.append(f"{entry.name} (removed)")
        elif entry.is_symlink() and _unlink(top, entry.name):
            removed.append(f"{entry.name} (removed)")
    return removed


def _remove_tree(parent: _Dir, name: str, depth: int) -> bool:
    """Remove directory parent/name and all in it; False when it is not (or no longer) one."""
    sub = _existing_subdir(parent, name)
    if sub is None:
        return False
    with sub:
        for entry in _entries(sub, depth):
            is_dir = entry.is_dir(follow_symlinks=False)
            if not (is_dir and _remove_tree(sub, entry.name, depth + 1)):
                _unlink(sub, entry.name)
    with _reported(parent.path / name, "remove it by hand, then render again"):
        os.rmdir(name, dir_fd=parent.fd)
    return True


__all__ = ["MARKER", "write_tree"]
