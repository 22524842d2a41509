"""Which files an inventory directory holds: every `*.yaml`/`*.yml`, nothing
skipped silently (the rules are in `inventory_files`)."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from controller.errors import InventoryError, Location, Problem
from controller.model.yamlsource import kind_of

ENV_VAR = "MESHKEEPER_INVENTORY"


def display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def inventory_files(path: Path) -> tuple[list[Path], list[Problem]]:
    """The inventory's YAML files in path order, and a problem for each entry that is not one.

    A file given as the inventory is all of it. In a directory, every `*.yaml` and
    `*.yml` (in any letter case) at any depth is read; other files (secrets, notes)
    are not the inventory's. Nothing that may hold nodes is skipped silently:
    - a symbolic link to a regular file or to a directory is followed, out of the
      inventory too; a second path to a file or directory already read (a copy
      through a link, or a loop) is a problem;
    - a YAML entry that is not a regular file (a named pipe, socket, device) or
      is a link leading nowhere is a problem, and is never opened;
    - a directory that cannot be listed is a problem;
    - a file over 10 MiB is a problem (yamlsource.MAX_FILE_BYTES).
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = 0
    if stat.S_ISREG(mode):
        return [path], []
    if not stat.S_ISDIR(mode):
        what, todo = (
            (
                "no inventory here",
                f"pass --inventory PATH, set {ENV_VAR}, or run where ./inventory is",
            )
            if mode == 0
            else (
                f"is {kind_of(mode)}, not an inventory file or directory",
                "pass the inventory directory or one YAML file",
            )
        )
        raise InventoryError([Problem(Location(str(path)), "", what, todo)])
    walk = _Walk()
    walk.run(path)
    files = walk.chosen()
    if not files and not walk.problems:
        raise InventoryError(
            [
                Problem(
                    Location(str(path)),
                    "",
                    "holds no .yaml files",
                    "add the inventory's YAML files",
                )
            ]
        )
    return files, walk.problems


@dataclass
class _Walk:
    """Directories in, YAML files and problems out; links followed, loops refused."""

    found: dict[str, list[tuple[Path, bool]]] = field(default_factory=dict)  # by real path
    problems: list[Problem] = field(default_factory=list)
    listed: set[str] = field(default_factory=set)  # real paths of directories read
    links: list[Path] = field(default_factory=list)  # to directories, read after the rest

    def run(self, root: Path) -> None:
        self.listed.add(os.path.realpath(root))
        stack: list[tuple[Path, bool]] = [(root, False)]
        while stack or self.links:
            if not stack:  # directories themselves first: a link is the second path
                link = self.links.pop(0)
                real = os.path.realpath(link)
                if real in self.listed:
                    self._problem(
                        link,
                        f"is a symbolic link to {real}, which the inventory already reads",
                        "remove the link",
                    )
                else:
                    self.listed.add(real)
                    stack.append((link, True))
                continue
            directory, linked = stack.pop()
            stack.extend(self._directory(directory, linked))

    def _directory(self, directory: Path, linked: bool) -> list[tuple[Path, bool]]:
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            self._problem(directory, f"cannot be listed ({exc.strerror})", "check its permissions")
            return []
        subdirectories = []
        for entry in entries:
            path = directory / entry.name
            if entry.is_symlink():
                self._link(path)
            elif entry.is_dir(follow_symlinks=False):
                real = os.path.realpath(path)
                if real not in self.listed:  # else read through another link already
                    self.listed.add(real)
                    subdirectories.append((path, linked))
            elif _is_yaml(path):
                try:
                    mode = entry.stat(follow_symlinks=False).st_mode
                except OSError as exc:  # gone since it was listed, or unreadable metadata
                    self._problem(path, f"cannot be read ({exc.strerror})", "check it")
                    continue
                self._file(path, mode, linked)
        return subdirectories[::-1]  # popped in name order

    def _link(self, path: Path) -> None:
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            if _is_yaml(path):
                gone = exc.errno == errno.ENOENT
                leads = "does not exist" if gone else f"cannot be followed ({exc.strerror})"
                self._problem(
                    path,
                    f"is a symbolic link to {path.readlink()}, which {leads}",
                    "fix the link or remove it",
                )
            return
        if stat.S_ISDIR(mode):
            self.links.append(path)
        elif _is_yaml(path):
            self._file(path, mode, True)

    def _file(self, path: Path, mode: int, linked: bool) -> None:
        if not stat.S_ISREG(mode):
            self._problem(
                path,
                f"is {kind_of(mode)}, not a regular file",
                "replace it with a YAML file or remove it",
            )
            return
        self.found.setdefault(os.path.realpath(path), []).append((path, linked))

    def chosen(self) -> list[Path]:
        """One path per file: the one that needs no link, else the first."""
        files = []
        for paths in self.found.values():
            keep = min(paths, key=lambda found: (found[1], found[0]))[0]
            files.append(keep)
            for other, _ in paths:
                if other != keep:
                    self._problem(
                        other,
                        f"is a second path to {display_path(keep)}, "
                        "which the inventory already reads",
                        "remove the link that leads here",
                    )
        return sorted(files)

    def _problem(self, path: Path, what: str, todo: str) -> None:
        self.problems.append(Problem(Location(display_path(path)), "", what, todo))


def _is_yaml(path: Path) -> bool:
    return path.name.lower().endswith((".yaml", ".yml"))
