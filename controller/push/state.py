"""The push state store: .meshkeeper/state.db (SQLite) beside the inventory.

nodes   one row per node: generation, rendered and applied hashes, status
        (pending, applying, applied, rolled_back, unreachable, drifted), last error
pushes  history: one row per node per push, with what changed (package names
        only: secrets never reach this file)
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from agent import contract

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY,
    generation INTEGER NOT NULL DEFAULT 0,
    rendered_hash TEXT,
    applied_hash TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pushes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node TEXT NOT NULL,
    started REAL NOT NULL,
    duration REAL NOT NULL,
    result TEXT NOT NULL,
    generation INTEGER NOT NULL,
    changes TEXT NOT NULL,
    error TEXT
);
"""
STATUSES = contract.PUSH_STATES


@dataclass(frozen=True)
class NodeState:
    name: str
    generation: int
    rendered_hash: str | None
    applied_hash: str | None
    status: str
    last_error: str | None
    updated: float


class StateStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_rendered(self, name: str, rendered_hash: str) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO nodes (name, rendered_hash, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET rendered_hash = excluded.rendered_hash",
                (name, rendered_hash, time.time()),
            )

    def set_status(
        self,
        name: str,
        status: str,
        *,
        generation: int | None = None,
        applied_hash: str | None = None,
        error: str | None = None,
    ) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown node status {status!r}")
        with self._db:
            self._db.execute(
                "INSERT INTO nodes (name, status, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET status = excluded.status, "
                "updated = excluded.updated",
                (name, status, time.time()),
            )
            if generation is not None:
                self._db.execute(
                    "UPDATE nodes SET generation = ? WHERE name = ?", (generation, name)
                )
            if applied_hash is not None:
                self._db.execute(
                    "UPDATE nodes SET applied_hash = ? WHERE name = ?", (applied_hash, name)
                )
            self._db.execute("UPDATE nodes SET last_error = ? WHERE name = ?", (error, name))

    def record_push(
        self,
        node: str,
        started: float,
        duration: float,
        result: str,
        generation: int,
        changes: list[str],
        error: str | None,
    ) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO pushes (node, started, duration, result, generation, changes, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (node, started, duration, result, generation, json.dumps(changes), error),
            )

    def nodes(self) -> list[NodeState]:
        rows = self._db.execute(
            "SELECT name, generation, rendered_hash, applied_hash, status, last_error, updated "
            "FROM nodes ORDER BY name"
        ).fetchall()
        return [NodeState(*row) for row in rows]

    def history(self, node: str | None = None, limit: int = 50) -> list[dict[str, object]]:
        query = "SELECT node, started, duration, result, generation, changes, error FROM pushes"
        args: tuple[object, ...] = ()
        if node:
            query += " WHERE node = ?"
            args = (node,)
        rows = self._db.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        keys = ("node", "started", "duration", "result", "generation", "changes", "error")
        return [dict(zip(keys, row, strict=True)) for row in rows]
