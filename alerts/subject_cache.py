"""The patients a batch touches as the rules see them (`thresholds.Subject`), kept in this
process between batches while the database says they are unchanged.

A Subject is built from the patient's row, their team's row and the threshold rows in force;
so it is reused while the patient's and the team's row versions (`xmin` and `ctid`: every
update, even in the transaction that inserted the row, makes a new one) and the ids of the
thresholds in force at the batch's time are what they were when it was built. A threshold
set, superseded or come to its end, a care plan, conditions or status changed, a recreated
database: each changes that signature, and the patient is read again
(`thresholds.load_versioned_subjects`, which reads the versions with the patients). The
check is one query returning a few small values per kept patient instead of each patient's
care plan, conditions and overrides; a batch of patients none of which is kept costs no more
queries than reading them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from alerts.series_cache import local_scope
from alerts.thresholds import Subject, load_versioned_subjects

# Patients kept (a Subject with its care plan and overrides is about 2 kB, so some 10 MB):
# the patients a hub hears from within minutes; the least recently used go first.
MAX_SUBJECTS = 5_000

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
        """`thresholds.load_subjects(conn, patient_ids, now)`, reusing the unchanged ones: one
        query checks the kept patients, one pair reads the others with their versions."""
        ids = sorted(set(patient_ids))
        local = local_scope(conn)
        with self._lock:
            kept = {pid: entry for pid in ids
                    if (entry := self._entries.get((local, pid))) is not None}
        out: dict[int, Subject] = {}
        if kept:
            rows = conn.cursor(row_factory=tuple_row).execute(
                _SIGNATURE_SQL, (now, sorted(kept))).fetchall()
            with self._lock:
                for pid, patient_row, team_row, thresholds in rows:
                    if kept[pid][0] == (patient_row, team_row, tuple(thresholds)):
                        self._entries.move_to_end((local, pid))
                        out[pid] = kept[pid][1]
        missing = [pid for pid in ids if pid not in out]
        self.confirmed += len(out)
        self.read += len(missing)
        if missing:
            read = load_versioned_subjects(conn, missing, now)
            with self._lock:
                for pid, entry in read.items():
                    self._entries[(local, pid)] = entry
                    self._entries.move_to_end((local, pid))
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
            out.update((pid, subject) for pid, (_, subject) in read.items())
        return out

    def __len__(self) -> int:
        return len(self._entries)


SUBJECTS = SubjectCache()
