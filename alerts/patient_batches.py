"""The scheduler's passes over the whole caseload, a bounded batch of patients at a time."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from psycopg.rows import tuple_row

# Patients per batch of a scheduler pass (missing readings, device rules). Each batch's rows,
# subjects and alerts are built, used and dropped before the next, so the hub's memory does
# not grow with the caseload: a whole pass over 50,000 patients at once held about 290 MB
# (bench/README.md). 1,000 keeps the number of round trips per pass small (50 for 50,000).
PASS_BATCH_PATIENTS = 1000

_IDS_SQL = "SELECT id FROM patients WHERE id > %s ORDER BY id LIMIT %s"


def patient_batches(conn: psycopg.Connection, size: int = PASS_BATCH_PATIENTS
                    ) -> Iterator[list[int]]:
    """Every patient id, in ascending order (the order the alert locks are taken in), as
    lists of at most `size`; each list is read when the previous one has been used."""
    if size < 1:
        raise ValueError(f"a batch holds at least one patient, not {size}")
    cur = conn.cursor(row_factory=tuple_row)
    after = -(2**63)   # below every bigint id
    while True:
        ids = [int(row[0]) for row in cur.execute(_IDS_SQL, (after, size))]
        if not ids:
            return
        yield ids
        if len(ids) < size:
            return
        after = ids[-1]
