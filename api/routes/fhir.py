"""FHIR R4 export: `GET /fhir/Patient/{id}` and `GET /fhir/Observation?patient=&code=&date=`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.access import audit, check_patient
from api.deps import Clinical, Conn, client_addr
from api.errors import ApiError
from api.queries.patients import load_patient
from api.render import fhir
from api.schemas.common import Problem
from telehub.domain.record_ids import record_id

router = APIRouter(prefix="/fhir", tags=["fhir"], responses={401: {"model": Problem},
                                                            404: {"model": Problem}})

FHIR_JSON = "application/fhir+json"
_FHIR_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {FHIR_JSON: {"schema": {"type": "object"}}}}}

OBSERVATIONS_SQL = """
SELECT r.time, r.patient_id, r.device_id AS device_pk, d.device_id, d.kind::text AS device_kind,
       r.metric::text AS metric, r.value, r.flags, r.reading_key, r.received_at,
       count(*) OVER () AS total
FROM readings r JOIN devices d ON d.id = r.device_id
WHERE r.patient_id = %(patient)s
  AND (%(metrics)s::metric[] IS NULL OR r.metric = ANY(%(metrics)s))
  AND (%(start)s::timestamptz IS NULL OR r.time >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR r.time < %(end)s)
ORDER BY r.time DESC, r.metric
LIMIT %(limit)s OFFSET %(offset)s
"""


@router.get("/Patient/{patient_id}", summary="A patient as a FHIR R4 Patient",
            response_class=JSONResponse, responses=_FHIR_RESPONSE)
def fhir_patient(patient_id: int, staff: Clinical, conn: Conn, request: Request) -> JSONResponse:
    """The patient with their NHS number (system https://fhir.nhs.uk/Id/nhs-number)."""
    check_patient(conn, staff, patient_id)
    row = load_patient(conn, patient_id)
    audit(conn, staff, "export", "fhir-patient", patient_id, client_addr(request))
    conn.commit()
    return JSONResponse(fhir.patient(row), media_type=FHIR_JSON)


@router.get("/Observation", summary="Search a patient's readings as FHIR R4 Observations",
            response_class=JSONResponse, responses={**_FHIR_RESPONSE, 422: {"model": Problem}})
def fhir_observations(
    staff: Clinical, conn: Conn, request: Request,
    patient: Annotated[str, Query(description="Patient/123 or 123")],
    code: Annotated[str | None, Query(description="LOINC codes, comma-separated; "
                                                  "system|code accepted")] = None,
    date: Annotated[list[str] | None, Query(description="e.g. ge2026-03-01, lt2026-03-08")
                    ] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(alias="_offset", ge=0)] = 0,
) -> JSONResponse:
    """A searchset Bundle of Observations, newest first, paged with `_count`/`_offset`."""
    patient_id = record_id(patient.removeprefix("Patient/"))
    if patient_id is None:
        raise ApiError(422, "patient must be 'Patient/<id>' or '<id>', the id in digits 0-9.",
                       "bad-patient")
    metrics = sorted({fhir.metric_for_code(t.strip()).value
                      for t in code.split(",") if t.strip()}) if code else None
    start, end = fhir.date_bounds(date or [])
    check_patient(conn, staff, patient_id)
    rows = conn.execute(OBSERVATIONS_SQL, {"patient": patient_id, "metrics": metrics,
                                           "start": start, "end": end, "limit": count,
                                           "offset": offset}).fetchall()
    total = rows[0]["total"] if rows else 0
    base = str(request.base_url).rstrip("/")
    bundle: dict[str, Any] = {
        "resourceType": "Bundle", "type": "searchset", "total": total,
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": [{"fullUrl": f"{base}/fhir/Observation/{fhir.observation_id(r)}",
                   "resource": fhir.observation(r), "search": {"mode": "match"}}
                  for r in rows],
    }
    if offset + len(rows) < total:
        nxt = request.url.include_query_params(_offset=offset + len(rows), _count=count)
        bundle["link"].append({"relation": "next", "url": str(nxt)})
    audit(conn, staff, "export", "fhir-observations", patient_id, client_addr(request),
          {"metrics": metrics, "count": len(rows)})
    conn.commit()
    return JSONResponse(bundle, media_type=FHIR_JSON)
