"""The retention tests' data and expectations: old rows either side of each table's cut, and
what a pass must leave on the readings' path (row by row on plain PostgreSQL, whole chunks
and whole local days where TimescaleDB holds the readings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row

from alerts.retention import READINGS, Trimmed, cut_before
from telehub.db.timescale import readings_is_hypertable
from telehub.domain.units import Metric
from tests.alerts.conftest import NOW, Clinic
from tests.clock_anchors import LONDON

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
POLICY = {"readings_days": 90, "rejected_days": 14, "outbox_days": 30}


def column(conn: psycopg.Connection[Any], query: LiteralString) -> list[Any]:
    """The first column of every row `query` returns."""
    return [row[0] for row in conn.cursor(row_factory=tuple_row).execute(query).fetchall()]


def count_rows(conn: psycopg.Connection[Any], table: str, where: str = "true") -> int:
    query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.Identifier(table),
                                                               sql.SQL(where))  # type: ignore[arg-type]
    row = conn.cursor(row_factory=tuple_row).execute(query).fetchone()
    assert row is not None
    return int(row[0])


def add_rejected(conn: psycopg.Connection[Any], at: datetime) -> None:
    conn.execute("INSERT INTO rejected_messages (received_at, topic, device_id, reason_code, "
                 "reason, payload, payload_size) VALUES (%s, 't/d/readings', 'scale-x', "
                 "'bad-json', 'not JSON', %s, 3)", (at, b"{x}"))


def add_outbox_event(conn: psycopg.Connection[Any], planned: datetime | None,
           delivered: list[datetime | None]) -> int:
    """An outbox event planned at `planned` with one delivery per entry (None: not made)."""
    row = conn.cursor(row_factory=dict_row).execute(
        "INSERT INTO outbox (payload, team, severity, created_at, planned_at) "
        "VALUES ('{}', 'north', 'red', %s, %s) RETURNING id",
        (planned or NOW - 400 * DAY, planned)).fetchone()
    assert row is not None
    for k, at in enumerate(delivered):
        channel, url = ("mqtt", None) if k == 0 else ("webhook", f"https://example.org/{k}")
        conn.execute("INSERT INTO outbox_deliveries (outbox_id, channel, destination, "
                     "attempts, delivered_at) VALUES (%s, %s, %s, 1, %s)",
                     (row["id"], channel, url, at))
    return int(row["id"])


def add_audit(conn: psycopg.Connection[Any], at: datetime) -> None:
    conn.execute("INSERT INTO audit_log (at, actor, action, resource) "
                 "VALUES (%s, 'os:operator', 'read', 'patient')", (at,))


_CHUNKS_SQL = """
SELECT range_start, range_end FROM timescaledb_information.chunks
WHERE hypertable_schema = current_schema() AND hypertable_name = 'readings'
"""


@dataclass(frozen=True)
class Expected:
    """What a pass with readings cut `cut` must leave: the reading times kept (in order), how
    many chunks it drops and how many rows of a split day it deletes (none on plain
    PostgreSQL)."""

    kept: list[datetime]
    chunks: int
    tail: int = 0


def expect_pass(conn: psycopg.Connection[Any], cut: datetime,
            chunk_cut: datetime | None = None) -> Expected:
    """Before a pass: plain PostgreSQL keeps the readings at or after the cut. TimescaleDB
    drops whole every chunk that ends at or before `chunk_cut` (the cut, or where an open
    alert's evidence starts), keeps the others, and deletes the rest of the local day the
    oldest kept chunk starts in when that day's first hours went and the day is before the
    cut (no reading here is an open alert's evidence)."""
    conn.commit()
    times = column(conn, "SELECT time FROM readings ORDER BY time")
    if not readings_is_hypertable(conn):
        return Expected([t for t in times if t >= cut], 0)
    chunks = conn.cursor(row_factory=tuple_row).execute(_CHUNKS_SQL).fetchall()
    conn.commit()
    chunk_cut = chunk_cut or cut

    def chunk_end(at: datetime) -> datetime:
        ends = [end for start, end in chunks if start <= at < end]
        assert len(ends) == 1, f"{at} lies in {len(ends)} chunks"
        return ends[0]

    in_chunks = [t for t in times if chunk_end(t) > chunk_cut]
    kept = in_chunks
    starts = [start for start, end in chunks if end > chunk_cut]
    if starts:
        first = min(starts)
        day = first.astimezone(LONDON).date()
        split = first.astimezone(LONDON).time() != time(0)
        if split and day < cut.astimezone(LONDON).date():
            kept = [t for t in in_chunks if t.astimezone(LONDON).date() != day]
    return Expected(kept, sum(1 for _, end in chunks if end <= chunk_cut),
                    len(in_chunks) - len(kept))


def check_pass(conn: psycopg.Connection[Any], done: Trimmed | None, expected: Expected,
           rows: int) -> None:
    """The pass left what `expected` says; on plain PostgreSQL it deleted `rows` readings."""
    assert done is not None
    assert column(conn, "SELECT time FROM readings ORDER BY time") == expected.kept
    if readings_is_hypertable(conn):
        assert (done.chunks_dropped, done.deleted[READINGS]) == (expected.chunks,
                                                                 expected.tail)
    else:
        assert (done.deleted[READINGS], done.chunks_dropped) == (rows, 0)


def old_everything(clinic: Clinic, now: datetime, pid: int) -> None:
    """Rows either side of each table's cut under POLICY, and an old audit log."""
    for days in (POLICY["readings_days"],):
        cut = cut_before(now, days, LONDON)
        for at in (cut - 400 * DAY, cut - SECOND, cut, cut + DAY):
            clinic.store(pid, Metric.WEIGHT, 80.0, at)
    cut = cut_before(now, POLICY["rejected_days"], LONDON)
    for at in (cut - 30 * DAY, cut - SECOND, cut):
        add_rejected(clinic.conn, at)
    cut = cut_before(now, POLICY["outbox_days"], LONDON)
    add_outbox_event(clinic.conn, cut - 5 * DAY, [cut - 5 * DAY, cut - SECOND])
    add_outbox_event(clinic.conn, cut - 5 * DAY, [cut - 5 * DAY, cut])  # a webhook at the cut
    for k in range(3):
        add_audit(clinic.conn, now - (1000 + k) * DAY)
    clinic.conn.commit()
