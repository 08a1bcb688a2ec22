"""The devices' on-disk memory: readings not yet acknowledged, and each device's seq and battery.

A reading is written here before it is published and deleted only when the
broker's PUBACK for it arrives, so a broker outage, a refused publish or a
crash never loses it: the next connection sends what is left as one batch.
SQLite in WAL mode: one file, safe against a crash of this process.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    item      TEXT NOT NULL,        -- the reading as JSON, ready to send
    fault     TEXT                  -- 'malformed' readings are never put into a batch
);
CREATE INDEX IF NOT EXISTS pending_device_idx ON pending (device_id, id);
CREATE TABLE IF NOT EXISTS device_state (
    device_id TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL,
    battery   REAL NOT NULL
);
"""
SAVE_STATE = (
    "INSERT INTO device_state (device_id, seq, battery) VALUES (?, ?, ?) "
    "ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq, battery = excluded.battery"
)


@dataclass(frozen=True)
class PendingReading:
    """A reading on disk that the broker has not acknowledged yet."""

    row_id: int
    item: str
    fault: str | None


class ReadingStore:
    """Pending readings and device counters, shared by every device of one simulator."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False,
                                   isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # survives a process crash
            self._db.executescript(SCHEMA)

    def add(self, device_id: str, item: str, fault: str | None, seq: int,
            battery: float) -> int:
        """Keep a reading until it is acknowledged, with the device's new seq; returns its id."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            cur = self._db.execute("INSERT INTO pending (device_id, item, fault) VALUES (?, ?, ?)",
                                   (device_id, item, fault))
            self._db.execute(SAVE_STATE, (device_id, seq, battery))
            return int(cur.lastrowid or 0)

    def acknowledged(self, row_ids: Iterable[int]) -> None:
        """The broker has these readings: forget them."""
        ids = [(i,) for i in row_ids]
        with self._lock:
            self._db.executemany("DELETE FROM pending WHERE id = ?", ids)

    def pending(self, device_id: str, exclude: Sequence[int] = ()) -> list[PendingReading]:
        """A device's unacknowledged readings, oldest first, less those already in flight."""
        with self._lock:
            rows = self._db.execute("SELECT id, item, fault FROM pending WHERE device_id = ? "
                                    "ORDER BY id", (device_id,)).fetchall()
        skip = set(exclude)
        return [PendingReading(r[0], r[1], r[2]) for r in rows if r[0] not in skip]

    def count(self, device_id: str | None = None) -> int:
        """How many readings wait for a PUBACK (for one device or all)."""
        with self._lock:
            if device_id is None:
                row = self._db.execute("SELECT count(*) FROM pending").fetchone()
            else:
                row = self._db.execute("SELECT count(*) FROM pending WHERE device_id = ?",
                                       (device_id,)).fetchone()
        return int(row[0])

    def load_state(self, device_id: str) -> tuple[int, float] | None:
        """A device's last seq and battery level, if it has run before."""
        with self._lock:
            row = self._db.execute("SELECT seq, battery FROM device_state WHERE device_id = ?",
                                   (device_id,)).fetchone()
        return (int(row[0]), float(row[1])) if row else None

    def save_state(self, device_id: str, seq: int, battery: float) -> None:
        """Remember a device's seq and battery."""
        with self._lock:
            self._db.execute(SAVE_STATE, (device_id, seq, battery))

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()
