"""`GET /patients/{id}/readings`: raw, or hourly/daily min/max/mean computed in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.access import audit, check_patient
from api.deps import Clinical, Conn, DbConn, client_addr
from api.errors import ApiError
from api.schemas.common import Problem, SpanTime
from api.schemas.readings import Bucket, BucketOut, ReadingOut, ReadingsOut
from telehub.db.timescale import has_timescaledb
from telehub.domain import clock
from telehub.domain.units import Metric

router = APIRouter(tags=["readings"], responses={401: {"model": Problem},
                                                 404: {"model": Problem}})

RAW_SQL = """
SELECT r.time, r.metric::text AS metric, r.value, r.unit::text AS unit, r.raw_value,
       r.raw_unit::text AS raw_unit, r.flags, d.device_id, r.received_at
FROM readings r JOIN devices d ON d.id = r.device_id
WHERE r.patient_id = %(patient)s AND r.time >= %(start)s AND r.time < %(end)s
  AND (%(metric)s::metric IS NULL OR r.metric = %(metric)s)
ORDER BY r.time, r.metric
LIMIT %(limit)s
"""

# Bins are aligned to UTC midnight either way; TimescaleDB's time_bucket uses the same origin.
DATE_BIN_SQL = """
SELECT date_bin(%(width)s, r.time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS start,
       r.metric::text AS metric, min(r.value) AS min, max(r.value) AS max,
       avg(r.value) AS mean, count(*) AS n
FROM readings r
WHERE r.patient_id = %(patient)s AND r.time >= %(start)s AND r.time < %(end)s
  AND (%(metric)s::metric IS NULL OR r.metric = %(metric)s)
GROUP BY 1, 2 ORDER BY 1, 2
"""
TIME_BUCKET_SQL = DATE_BIN_SQL.replace(
    "date_bin(%(width)s, r.time, TIMESTAMPTZ '2000-01-01 00:00:00+00')",
    "time_bucket(%(width)s, r.time)")

WIDTHS = {Bucket.HOUR: timedelta(hours=1), Bucket.DAY: timedelta(days=1)}
MAX_SPAN = timedelta(days=3 * 366)
RAW_LIMIT = 50_000  # a year of four-hourly readings; bucket longer spans


def bucket_sql(conn: DbConn) -> str:
    """time_bucket on TimescaleDB, date_bin on plain PostgreSQL."""
    return TIME_BUCKET_SQL if has_timescaledb(conn) else DATE_BIN_SQL


@router.get("/patients/{patient_id}/readings", response_model=ReadingsOut,
            summary="A patient's readings, raw or bucketed", responses={422: {"model": Problem}})
def get_readings(
    patient_id: int, staff: Clinical, conn: Conn, request: Request,
    metric: Metric | None = None,
    start: Annotated[SpanTime | None, Query(alias="from",
                                            description="Default: 7 days before `to`")] = None,
    end: Annotated[SpanTime | None, Query(alias="to", description="Default: now")] = None,
    bucket: Bucket = Bucket.RAW,
    limit: Annotated[int, Query(ge=1, le=RAW_LIMIT)] = RAW_LIMIT,
) -> ReadingsOut:
    """Readings in [from, to): raw rows, or per-hour/per-UTC-day min, max, mean and count."""
    end = _aware(end) if end else clock.now()
    start = _aware(start) if start else end - timedelta(days=7)
    if start >= end:
        raise ApiError(422, "'from' must be before 'to'.", "bad-window")
    if end - start > MAX_SPAN:
        raise ApiError(422, "Ask for at most three years at a time.", "bad-window")
    check_patient(conn, staff, patient_id)
    params = {"patient": patient_id, "start": start, "end": end,
              "metric": metric.value if metric else None, "limit": limit}
    out = ReadingsOut(patient_id=patient_id, bucket=bucket, start=start, end=end)
    if bucket == Bucket.RAW:
        out.raw = [ReadingOut.model_validate(r) for r in conn.execute(RAW_SQL, params)]
    else:
        rows = conn.execute(bucket_sql(conn), {**params, "width": WIDTHS[bucket]})
        out.buckets = [BucketOut.model_validate(r) for r in rows]
    audit(conn, staff, "read", "readings", patient_id, client_addr(request),
          {"metric": params["metric"], "bucket": bucket.value,
           "from": start.isoformat(), "to": end.isoformat()})
    conn.commit()
    return out


def _aware(t: datetime) -> datetime:
    """Times without a zone are taken as UTC."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)
