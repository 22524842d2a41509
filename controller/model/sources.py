"""Where each part of the merged inventory came from (file, line, column).

The inventory is several YAML files merged into one mapping. `Sources`
remembers which file owns which top-level key (or which node, profile, link),
so any path into the merged data can be turned back into a `Location`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.errors import Location
from controller.model.yamlbuild import shown
from controller.model.yamlsource import YamlDocument, dotted, find, locate

Path = tuple[str | int, ...]


@dataclass
class Sources:
    documents: dict[str, YamlDocument] = field(default_factory=dict)
    # merged path prefix -> (file, the same prefix inside that file)
    owners: dict[Path, tuple[str, Path]] = field(default_factory=dict)
    fallback: str = "inventory"

    def own(self, merged: Path, file: str, inner: Path) -> None:
        self.owners[merged] = (file, inner)

    def locate(self, path: Path) -> Location:
        for depth in (2, 1):
            owner = self.owners.get(path[:depth])
            if owner is not None and len(path) >= depth:
                file, inner = owner
                return locate(self.documents[file], inner + path[depth:])
        return Location(self.fallback)

    def find(self, path: Path) -> Location | None:
        """Location of `path` if the inventory spells out every step of it."""
        for depth in (2, 1):
            owner = self.owners.get(path[:depth])
            if owner is not None and len(path) >= depth:
                file, inner = owner
                return find(self.documents[file], inner + path[depth:])
        return None

    def locate_layered(self, layers: list[Path], path: Path) -> tuple[Location, Path]:
        """Where a layered node field was set: the first layer that sets it.

        `layers` are merged-path prefixes, highest precedence first (the node,
        its profile, defaults). A field no layer sets (a missing one) is shown
        at the node itself.
        """
        for prefix in layers:
            found = self.find(prefix + path)
            if found is not None:
                return found, prefix + path
        for cut in range(len(path) - 1, 0, -1):
            for prefix in layers:
                found = self.find(prefix + path[:cut])
                if found is not None:
                    return found, layers[0] + path
        return self.locate(layers[0]), layers[0] + path

    def owner_file(self, path: Path) -> str | None:
        for depth in (2, 1):
            owner = self.owners.get(path[:depth])
            if owner is not None:
                return owner[0]
        return None


__all__ = ["Path", "Sources", "dotted", "shown"]  # dotted, shown: how messages quote the inventory
