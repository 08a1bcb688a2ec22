"""FHIR R4 read interactions under `/fhir`: the CapabilityStatement, Patient, Observation,
Device and Flag (Telehub alerts) reads and searches, as `application/fhir+json`.

Every patient's data is read by clinical staff of the patient's team only (api.access): a
record outside it is 404, as everywhere in the API; every read is audited. Errors are
OperationOutcomes (api.errors).
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from alerts.catalogue import load_catalogue
from api.access import audit, check_patient
from api.deps import Clinical, Conn, DbConn, Staff, Zone, client_addr
from api.errors import FHIR_JSON, ApiError, not_found
from api.queries import fhir as q
from api.queries.patients import load_patient
from api.render import fhir
from api.render.fhir_bundle import searchset
from api.render.fhir_capability import capability_statement
from api.render.fhir_device import device
from api.render.fhir_flag import flag
from api.render.fhir_ids import observation_id, parse_observation_id
from api.render.fhir_interpretation import interpretation
from api.render.fhir_search import (
    check_parameters,
    code_metrics,
    date_bounds,
    page_size,
    parse_cursor,
    reference_id,
    sort_descending,
)
from telehub.domain.codes import Role
from telehub.domain.nhs_number import is_valid_nhs_number
from telehub.domain.record_ids import record_id
from telehub.domain.units import NHS_NUMBER_SYSTEM
from telehub.errors import ValidationError

_OUTCOME: dict[str, Any] = {"description": "an OperationOutcome",
                            "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
router = APIRouter(prefix="/fhir", tags=["fhir"], responses={
    401: _OUTCOME, 403: _OUTCOME, 404: _OUTCOME, 422: _OUTCOME, 503: _OUTCOME})

_FHIR_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {FHIR_JSON: {"schema": {"type": "object"}}}}}
OBSERVATION_PARAMS = frozenset({"patient", "subject", "code", "date", "_lastUpdated", "_sort",
                                "_cursor", "_include"})
INCLUDES = ("Observation:device", "Observation:device:Device")
FLAG_STATUS = {"active": True, "inactive": False}
NHS_NUMBER_SQL = "SELECT id, team_id FROM patients WHERE nhs_number = %s"


# The search parameters each search reads from the query string (for the OpenAPI document;
# the routes read them themselves so repeated and unknown parameters are refused as FHIR asks).
_PARAM_DOCS = {
    "identifier": "https://fhir.nhs.uk/Id/nhs-number|<NHS number>", "_id": "a patient id",
    "patient": "Patient/<id> or <id>", "subject": "Patient/<id> or <id>",
    "code": "LOINC or SNOMED CT: system|code or code, comma-separated",
    "date": "measurement time with a prefix (eq lt le gt ge sa eb), e.g. ge2026-03-01",
    "_lastUpdated": "receipt time with a prefix, e.g. gt2026-03-01T10:00Z",
    "_sort": "date or -date", "_count": "page size, 0 to 1000",
    "_cursor": "from the Bundle's next/previous link", "_include": "Observation:device",
    "status": "active or inactive", "_offset": "from the Bundle's next link",
}
_REPEATABLE = frozenset({"date", "_lastUpdated", "code"})


def _query(*names: str) -> dict[str, Any]:
    return {"parameters": [
        {"name": n, "in": "query", "required": False, "description": _PARAM_DOCS[n],
         "schema": {"type": "array", "items": {"type": "string"}} if n in _REPEATABLE
         else {"type": "string"}, **({"explode": True} if n in _REPEATABLE else {})}
        for n in names]}


def _fhir(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, media_type=FHIR_JSON)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _one(source: Request | QueryParams, name: str) -> str | None:
    values = (source.query_params if isinstance(source, Request) else source).getlist(name)
    if len(values) > 1:
        raise ValidationError("repeated-parameter", f"'{name}' may be given once.")
    return values[0] if values else None


def _visible(conn: DbConn, staff: Staff, patient_id: int | None, what: str) -> int:
    """The patient's id when `staff` may see this record of theirs, else 404 `what`."""
    if patient_id is None:
        if staff.role != Role.ADMIN:
            raise not_found(what)
        return 0
    try:
        check_patient(conn, staff, patient_id)
    except ApiError as err:
        raise not_found(what) from err
    return patient_id


@router.get("/metadata", summary="The CapabilityStatement: what this FHIR endpoint supports",
            response_class=JSONResponse, responses=_FHIR_RESPONSE)
def fhir_metadata(request: Request) -> JSONResponse:
    """Public, as FHIR clients read it before they sign in; it holds no patient data."""
    try:
        version = metadata.version("telehub")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return _fhir(capability_statement(_base(request), version))


@router.get("/Patient/{patient_id}", summary="A patient as a FHIR R4 Patient",
            response_class=JSONResponse, responses=_FHIR_RESPONSE)
def fhir_patient(patient_id: str, staff: Clinical, conn: Conn, request: Request) -> JSONResponse:
    """The patient with their NHS number (system https://fhir.nhs.uk/Id/nhs-number)."""
    pid = record_id(patient_id)
    if pid is None:
        raise not_found("Patient")
    _visible(conn, staff, pid, "Patient")
    row = load_patient(conn, pid)
    audit(conn, staff, "export", "fhir-patient", pid, client_addr(request))
    conn.commit()
    return _fhir(fhir.patient(row))


@router.get("/Patient", summary="Find patients by NHS number (identifier) or id",
            response_class=JSONResponse, responses=_FHIR_RESPONSE,
            openapi_extra=_query("identifier", "_id"))
def fhir_patients(staff: Clinical, conn: Conn, request: Request) -> JSONResponse:
    """`identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number>` or `_id=<id>`: a searchset
    Bundle with the patient when the caller's team holds them, else empty."""
    return _find_patients(staff, conn, request, request.query_params)


@router.post("/Patient/_search", summary="Find patients with the parameters in a form body",
             response_class=JSONResponse, responses=_FHIR_RESPONSE)
async def fhir_patients_post(staff: Clinical, conn: Conn, request: Request) -> JSONResponse:
    """As `GET /fhir/Patient`, the parameters sent as application/x-www-form-urlencoded, so
    an NHS number stays out of URLs (proxy logs, browser history)."""
    if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        raise ApiError(415, "Send the search as application/x-www-form-urlencoded.",
                       "unsupported-media-type")
    form = await request.form()
    params = QueryParams([*request.query_params.multi_items(),
                          *((k, str(v)) for k, v in form.multi_items())])
    return await run_in_threadpool(_find_patients, staff, conn, request, params)


def _find_patients(staff: Staff, conn: DbConn, request: Request,
                   params: QueryParams) -> JSONResponse:
    check_parameters(list(params), frozenset({"identifier", "_id"}))
    identifier, wanted_id = _one(params, "identifier"), _one(params, "_id")
    if identifier is None and wanted_id is None:
        raise ValidationError("missing-parameter", "Search patients by 'identifier' (NHS "
                              "number) or '_id'.")
    ids: set[int] = set()
    if identifier is not None:
        system, bar, value = identifier.rpartition("|")
        if bar and system != NHS_NUMBER_SYSTEM:
            raise ValidationError("unsupported-identifier", "Patients are found by NHS "
                                  f"number: identifier={NHS_NUMBER_SYSTEM}|<NHS number>.")
        if not is_valid_nhs_number(value):
            raise ValidationError("bad-nhs-number", "The identifier is not a valid NHS "
                                  "number (ten digits with a modulus-11 check digit).")
        row = conn.execute(NHS_NUMBER_SQL, (value,)).fetchone()
        ids.add(int(row["id"]) if row else 0)
    if wanted_id is not None:
        ids.add(record_id(wanted_id) or 0)
    found: list[dict[str, Any]] = []
    if len(ids) == 1 and 0 not in ids:
        pid = ids.pop()
        try:
            check_patient(conn, staff, pid)
            found.append(fhir.patient(load_patient(conn, pid)))
        except ApiError:
            pass       # another team's patient is not found, as elsewhere
    for resource in found:
        audit(conn, staff, "export", "fhir-patient", int(resource["id"]), client_addr(request),
              {"search": "identifier" if identifier else "_id"})
    if not found:
        audit(conn, staff, "search", "fhir-patient", None, client_addr(request), {"found": 0})
    conn.commit()
    # The self link never repeats the NHS number of a POSTed search in a URL.
    self_url = str(request.url) if request.method == "GET" else f"{_base(request)}/Patient"
    return _fhir(searchset(_base(request), self_url, len(found), found))


@router.get("/Observation/{obs_id}", summary="One reading as a FHIR R4 Observation",
            response_class=JSONResponse, responses=_FHIR_RESPONSE)
def fhir_observation(obs_id: str, staff: Clinical, conn: Conn, request: Request) -> JSONResponse:
    """The Observation every search entry's fullUrl names."""
    key = parse_observation_id(obs_id)
    row = q.observation_by_key(conn, key) if key is not None else None
    if row is None:
        raise not_found("Observation")
    _visible(conn, staff, row["patient_id"], "Observation")
    resource = _observations(conn, [row])[0]
    audit(conn, staff, "export", "fhir-observation", row["patient_id"], client_addr(request),
          {"id": obs_id})
    conn.commit()
    return _fhir(resource)


def _observations(conn: DbConn, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Observations for rows, each with the interpretation of the rules that fired on it."""
    fired = q.fired_on(conn, rows) if rows else {}
    catalogue = load_catalogue()
    return [fhir.observation(r, interpretation(catalogue, float(r["value"]),
                                               fired.get(observation_id(r), []), r["flags"]))
            for r in rows]


@router.get("/Observation", summary="Search a patient's readings as FHIR R4 Observations",
            response_class=JSONResponse, responses=_FHIR_RESPONSE,
            openapi_extra=_query("patient", "subject", "code", "date", "_lastUpdated", "_sort",
                                 "_count", "_cursor", "_include"))
def fhir_observations(staff: Clinical, conn: Conn, request: Request, zone: Zone) -> JSONResponse:
    """A searchset Bundle of a patient's Observations (`patient` or `subject`; `code`, `date`,
    `_lastUpdated`, `_sort`, `_count`, `_include=Observation:device`), paged by links."""
    params = request.query_params
    check_parameters(list(params), OBSERVATION_PARAMS)
    refs = params.getlist("patient") + params.getlist("subject")
    if len(refs) != 1:
        raise ValidationError("missing-parameter", "Name exactly one patient: "
                              "patient=Patient/<id> (or subject=).")
    patient_id = reference_id(refs[0], "Patient")
    codes = params.getlist("code")
    metrics, unknown = code_metrics(codes)
    if codes and not metrics and not unknown:
        raise ValidationError("bad-code", "'code' names no code: give system|code or code.")
    include = _one(request, "_include")
    if include is not None and include not in INCLUDES:
        raise ValidationError("unsupported-include", "Only _include=Observation:device is "
                              "supported.")
    start, end = date_bounds(params.getlist("date"), zone)
    updated_start, updated_end = date_bounds(params.getlist("_lastUpdated"), zone)
    search = q.ObservationSearch(
        patient_id=patient_id, metrics=sorted(m.value for m in metrics) if codes else None,
        start=start, end=end, updated_start=updated_start, updated_end=updated_end,
        descending=sort_descending(_one(request, "_sort")),
        count=page_size(_one(request, "_count")), cursor=parse_cursor(_one(request, "_cursor")))
    _visible(conn, staff, patient_id, "patient")
    if codes and not metrics:
        page = q.ObservationPage([], 0, False, False)
    else:
        page = q.search_observations(conn, search)
    matches = _observations(conn, page.rows)
    # A device since registered to someone else is not shown: it names their record.
    included = ([device(d) for d in q.devices_by_id(conn, [r["device_pk"] for r in page.rows])
                 if d["patient_id"] == patient_id] if include and page.rows else [])
    next_url = previous_url = None
    if page.more_after and page.rows:
        next_url = str(request.url.include_query_params(
            _cursor=f"after.{observation_id(page.rows[-1])}", _count=search.count))
    if page.more_before and page.rows:
        previous_url = str(request.url.include_query_params(
            _cursor=f"before.{observation_id(page.rows[0])}", _count=search.count))
    warnings = [f"No Telehub metric has the code '{t}' (LOINC or SNOMED CT)." for t in unknown]
    audit(conn, staff, "export", "fhir-observations", patient_id, client_addr(request),
          {"metrics": search.metrics, "count": len(matches), "include": bool(included)})
    conn.commit()
    return _fhir(searchset(_base(request), str(request.url), page.total, matches,
                           included=included, warnings=warnings, next_url=next_url,
                           previous_url=previous_url))


@router.get("/Device/{device_pk}", summary="A registered device as a FHIR R4 Device",
            response_class=JSONResponse, responses=_FHIR_RESPONSE)
def fhir_device(device_pk: str, staff: Clinical, conn: Conn, request: Request) -> JSONResponse:
    """The device every Observation's `device` reference names."""
    pk = record_id(device_pk)
    rows = q.devices_by_id(conn, [pk]) if pk is not None else []
    if not rows:
        raise not_found("Device")
    patient = _visible(conn, staff, rows[0]["patient_id"], "Device")
    audit(conn, staff, "export", "fhir-device", patient or None, client_addr(request),
          {"device": rows[0]["device_id"]})
    conn.commit()
    return _fhir(device(rows[0]))


@router.get("/Device", summary="A patient's devices as FHIR R4 Devices",
            response_class=JSONResponse, responses=_FHIR_RESPONSE,
            openapi_extra=_query("patient"))
def fhir_devices(staff: Clinical, conn: Conn, request: Request) -> JSONResponse:
    """`patient=Patient/<id>`: a searchset Bundle of the devices registered to the patient."""
    check_parameters(list(request.query_params), frozenset({"patient"}))
    ref = _one(request, "patient")
    if ref is None:
        raise ValidationError("missing-parameter", "Name the patient: patient=Patient/<id>.")
    patient_id = reference_id(ref, "Patient")
    _visible(conn, staff, patient_id, "patient")
    found = [device(d) for d in q.patient_devices(conn, patient_id)]
    audit(conn, staff, "export", "fhir-devices", patient_id, client_addr(request),
          {"count": len(found)})
    conn.commit()
    return _fhir(searchset(_base(request), str(request.url), len(found), found))


def _flag(conn: DbConn, row: dict[str, Any]) -> dict[str, Any]:
    label = load_catalogue().episode_label(row["rule_id"])
    return flag(row, label, q.evidence(conn, row))


@router.get("/Flag/{flag_id}", summary="A Telehub alert as a FHIR R4 Flag",
            response_class=JSONResponse, responses=_FHIR_RESPONSE)
def fhir_flag(flag_id: str, staff: Clinical, conn: Conn, request: Request) -> JSONResponse:
    """The alert: its sentence, severity (flag-priority) and evidence (flag-detail)."""
    aid = record_id(flag_id)
    row = q.alert_by_id(conn, aid) if aid is not None else None
    if row is None:
        raise not_found("Flag")
    _visible(conn, staff, row["patient_id"], "Flag")
    resource = _flag(conn, row)
    audit(conn, staff, "export", "fhir-flag", row["patient_id"], client_addr(request),
          {"alert": row["id"]})
    conn.commit()
    return _fhir(resource)


@router.get("/Flag", summary="A patient's alerts as FHIR R4 Flags",
            response_class=JSONResponse, responses=_FHIR_RESPONSE,
            openapi_extra=_query("patient", "status", "_count", "_offset"))
def fhir_flags(staff: Clinical, conn: Conn, request: Request) -> JSONResponse:
    """`patient=Patient/<id>` and optionally `status=active|inactive`: newest first, paged
    with `_count` and the Bundle's next link."""
    check_parameters(list(request.query_params), frozenset({"patient", "status", "_offset"}))
    ref, status = _one(request, "patient"), _one(request, "status")
    if ref is None:
        raise ValidationError("missing-parameter", "Name the patient: patient=Patient/<id>.")
    if status is not None and status not in FLAG_STATUS:
        raise ValidationError("bad-status", "status is 'active' or 'inactive'.")
    patient_id = reference_id(ref, "Patient")
    count = page_size(_one(request, "_count"))
    offset_text = _one(request, "_offset") or "0"
    offset = 0 if offset_text == "0" else record_id(offset_text)
    if offset is None:
        raise ValidationError("bad-offset", "'_offset' must be a whole number of 0 or more.")
    _visible(conn, staff, patient_id, "patient")
    rows, total = q.patient_alerts(conn, patient_id, FLAG_STATUS.get(status or ""), count,
                                   offset)
    found = [_flag(conn, r) for r in rows]
    next_url = None
    if offset + len(rows) < total:
        next_url = str(request.url.include_query_params(_offset=offset + len(rows),
                                                        _count=count))
    audit(conn, staff, "export", "fhir-flags", patient_id, client_addr(request),
          {"status": status, "count": len(found)})
    conn.commit()
    return _fhir(searchset(_base(request), str(request.url), total, found, next_url=next_url))
