"""`GET /patients/{id}/readings`: raw, or hourly/daily min/max/mean computed in the database
(api.queries.buckets).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.access import audit, check_patient
from api.deps import Clinical, Conn, client_addr
from api.errors import ApiError
from api.queries.buckets import load_buckets
from api.schemas.common import Problem, SpanTime
from api.schemas.readings import Bucket, BucketOut, ReadingOut, ReadingsOut
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

WIDTHS = {Bucket.HOUR: timedelta(hours=1), Bucket.DAY: timedelta(days=1)}
MAX_SPAN = timedelta(days=3 * 366)
RAW_LIMIT = 50_000  # a year of four-hourly readings; bucket longer spans


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
        rows = load_buckets(conn, params, WIDTHS[bucket])
        out.buckets = [BucketOut.model_validate(r) for r in rows]
    audit(conn, staff, "read", "readings", patient_id, client_addr(request),
          {"metric": params["metric"], "bucket": bucket.value,
           "from": start.isoformat(), "to": end.isoformat()})
    conn.commit()
    return out


def _aware(t: datetime) -> datetime:
    """Times without a zone are taken as UTC."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)
