"""The patients a batch touches as the rules see them (`thresholds.Subject`), kept in this
process between batches while the database says they are unchanged.

A Subject is built from the patient's row, their team's row and the threshold rows in force;
so it is reused while the patient's and the team's row versions (`xmin` and `ctid`: every
update, even in the transaction that inserted the row, makes a new one) and the ids of the
thresholds in force at the batch's time are what they were when it was built. A threshold
set, superseded or come to its end, a care plan, conditions or status changed, a recreated
database: each changes that signature, and the patient is read again
(`thresholds.load_subjects`). The check is one query returning a few small values per
patient instead of each patient's care plan, conditions and overrides."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from alerts.series_cache import local_scope
from alerts.thresholds import Subject, load_subjects

# Patients kept (a Subject with its overrides is about 2 kB): a morning's touched patients
# of a large service; the least recently used go first.
MAX_SUBJECTS = 20_000

_SIGNATURE_SQL = """
SELECT p.id, p.xmin::text || p.ctid::text, t.xmin::text || t.ctid::text,
       ARRAY(SELECT h.id FROM thresholds h
              WHERE h.patient_id = p.id AND h.superseded_at IS NULL
                AND (h.ends_at IS NULL OR h.ends_at > %s) ORDER BY h.id)
FROM patients p JOIN teams t ON t.id = p.team_id
WHERE p.id = ANY(%s)
"""


class SubjectCache:
    """Subjects by (database, patient id) with the signature they were built at."""

    def __init__(self, max_subjects: int = MAX_SUBJECTS) -> None:
        self._max = max_subjects
        self._entries: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], Subject]] = (
            OrderedDict())
        self._lock = threading.Lock()
        self.confirmed = 0      # patients served from the cache
        self.read = 0           # patients read (not kept, or changed)

    def load(self, conn: psycopg.Connection, patient_ids: Iterable[int],
             now: datetime) -> dict[int, Subject]:
        """`thresholds.load_subjects(conn, patient_ids, now)`, reusing the unchanged ones."""
        ids = sorted(set(patient_ids))
        if not ids:
            return {}
        local = local_scope(conn)
        rows = conn.cursor(row_factory=tuple_row).execute(_SIGNATURE_SQL, (now, ids)).fetchall()
        signatures = {pid: (patient_row, team_row, tuple(thresholds))
                      for pid, patient_row, team_row, thresholds in rows}
        out: dict[int, Subject] = {}
        with self._lock:
            for pid, signature in signatures.items():
                kept = self._entries.get((local, pid))
                if kept is not None and kept[0] == signature:
                    self._entries.move_to_end((local, pid))
                    out[pid] = kept[1]
        missing = [pid for pid in signatures if pid not in out]
        self.confirmed += len(out)
        self.read += len(missing)
        if missing:
            read = load_subjects(conn, missing, now)
            with self._lock:
                for pid, subject in read.items():
                    self._entries[(local, pid)] = (signatures[pid], subject)
                    self._entries.move_to_end((local, pid))
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
            out.update(read)
        return out

    def __len__(self) -> int:
        return len(self._entries)


SUBJECTS = SubjectCache()
