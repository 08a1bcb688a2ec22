"""FHIR uploads from health-device gateways: `POST /fhir` (a PHD IG transaction Bundle) and
`POST /fhir/Observation` (one reading), signed in as the device.

How an upload is stored, and why this way:

- **One pipeline.** The API never writes readings (`api` may not import `ingest`): the hub
  stores them, so readings uploaded here are stored, deduplicated and run through the alert
  rules exactly as MQTT ones are. The Observations that pass are published, QoS 1, on the
  signed-in device's readings topic as one FHIR Bundle, which the hub decodes like any other.
- **No second validator.** Each entry is decoded and checked now with the hub's own code
  (`telehub.domain.fhir_observations`, `telehub.domain.reading_checks`: moved out of the hub
  for this), so a gateway hears, per entry, exactly the refusal and reason code the hub
  would record; only what passes goes to the hub, which checks it again.
- **Conditional create.** A PHD gateway's Observation.identifier is the reading's key
  (`reading_key`, part of the readings table's idempotency key), so `ifNoneExist:
  identifier=<system>|<value>` is one index probe: a match answers 200 with the existing
  resource and publishes nothing. Without `ifNoneExist` the whole identity (device, metric,
  key, time) is matched, as the hub would match it.
- **201 only when stored.** After publishing, the route waits (at most `STORE_WAIT_S`) until
  the hub has committed the readings, then answers 201 with their location; a reading the
  hub has not stored by then is answered 202 (accepted, not yet confirmed): sending the
  same upload again is safe and answers 200 once it is stored. No database connection is
  held while waiting, so gateways waiting on a stopped hub never starve staff of the pool.
- **Per entry, not all or nothing.** A transaction Bundle is processed entry by entry
  (like a batch): a refused reading must not cost a patient the good readings sent with it.
  A Bundle that is malformed as a whole is a 400 OperationOutcome and stores nothing.
- **The patient is the device's.** A Patient entry must be the patient the device is
  registered to (by NHS number or Telehub key); a PhdDevice must be the signed-in device
  (identifier or serial number); a gateway's own Device (PhgDevice) and its clock records
  are acknowledged and not kept.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, cast

import psycopg
import pydantic
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.concurrency import run_in_threadpool

from api.deps import DbConn, State
from api.device_auth import DeviceCredentials, SignedInDevice, check_may_send, signed_in_device
from api.errors import FHIR_JSON, ApiError, outcome_response
from api.fhir_transaction import Context, Entry, check_entries, device_names
from api.publisher import PublishError
from api.queries.fhir_upload import readings_with_keys, registered_names
from api.render import fhir
from api.render.operation_outcome import operation_outcome
from api.schemas.fhir_upload import BundleEntry, EntryRequest, TransactionBundle
from api.state import ApiState
from telehub.domain import clock
from telehub.domain.reading_checks import reused_id
from telehub.errors import ValidationError
from telehub.mqtt import topics

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/fhir", tags=["fhir upload"])

# How long an upload waits for the hub to store its readings: a running hub commits within
# a batch wait (50 ms) and one transaction, well under a second even at the morning peak;
# 3 s leaves room for a busy hub yet answers a gateway (whose timeouts are tens of seconds)
# promptly with 202 while the hub is down or behind.
STORE_WAIT_S = 3.0
POLL_S = 0.05
_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
    for code, text in ((200, "A transaction-response Bundle or an OperationOutcome"),
                       (400, "Malformed upload (OperationOutcome); nothing stored"),
                       (401, "Unknown device or wrong password (OperationOutcome)"),
                       (409, "The device may not send readings now (OperationOutcome)"),
                       (503, "The broker is not reachable (OperationOutcome)"))}
_NO_DATABASE = ApiError(503, "The database is not reachable; nothing was stored. Send again "
                       "shortly.", "database-unavailable", {"Retry-After": "5"})
_BODY = {"requestBody": {"required": True,
                         "content": {FHIR_JSON: {"schema": {"type": "object"}}}}}


@router.post("", summary="Upload a PHD IG transaction Bundle as a device",
             response_class=JSONResponse, responses=_RESPONSES, openapi_extra=_BODY)
async def upload_bundle(request: Request, state: State, creds: DeviceCredentials
                        ) -> JSONResponse:
    """Each entry stored or refused with its own OperationOutcome (transaction-response)."""
    body = await request.body()
    return await run_in_threadpool(_upload_bundle, body, state, creds)


@router.post("/Observation", summary="Upload one Observation as a device",
             response_class=JSONResponse, responses=_RESPONSES, openapi_extra=_BODY)
async def upload_observation(request: Request, state: State, creds: DeviceCredentials,
                             if_none_exist: Annotated[str | None,
                                                      Header(alias="If-None-Exist")] = None,
                             ) -> JSONResponse:
    """201 and Location once stored, 200 if it already was, 202 if not yet, 422 if refused."""
    body = await request.body()
    base = str(request.base_url).rstrip("/")
    return await run_in_threadpool(_upload_observation, body, state, creds, if_none_exist,
                                   base)


@contextmanager
def _connection(state: ApiState) -> Iterator[DbConn]:
    """A pooled connection for one step: none is held while the upload waits for the hub,
    so gateways waiting on a stopped hub never starve staff of connections."""
    with state.pool.connection() as conn:
        yield cast(DbConn, conn)


def _upload_bundle(body: bytes, state: ApiState, creds: Any) -> JSONResponse:
    try:
        with _connection(state) as conn:
            device = signed_in_device(conn, creds)
            check_may_send(device)
            bundle = _bundle(_json(body), state.settings.ingest.max_batch_readings)
            entries = _check(conn, state, device, bundle.entry)
            fresh = _answer_existing(conn, device, entries)
        _store(state, device, fresh)
    except ApiError as err:
        return _error(err)
    except (PoolTimeout, psycopg.OperationalError):
        return _error(_NO_DATABASE)
    out = {"resourceType": "Bundle", "type": f"{bundle.type}-response",
           "entry": [_response_entry(e) for e in entries]}
    return JSONResponse(out, media_type=FHIR_JSON)


def _upload_observation(body: bytes, state: ApiState, creds: Any, if_none_exist: str | None,
                        base: str) -> JSONResponse:
    try:
        with _connection(state) as conn:
            device = signed_in_device(conn, creds)
            check_may_send(device)
            document = _json(body)
            if not isinstance(document, dict) or document.get("resourceType") != "Observation":
                raise ApiError(400, "The body must be a FHIR Observation.",
                               "not-an-observation")
            request = _single_request(if_none_exist)
            [entry] = _check(conn, state, device,
                             [BundleEntry(resource=document, request=request)])
            fresh = _answer_existing(conn, device, [entry])
        _store(state, device, fresh)
    except ApiError as err:
        return _error(err)
    except (PoolTimeout, psycopg.OperationalError):
        return _error(_NO_DATABASE)
    headers = {"Location": f"{base}/fhir/{entry.location}"} if entry.location else None
    issues = [dataclasses.replace(i, expression=()) for i in entry.outcome()]  # no Bundle
    return JSONResponse(operation_outcome(*issues), status_code=entry.status,
                        headers=headers, media_type=FHIR_JSON)


def _single_request(if_none_exist: str | None) -> EntryRequest:
    try:
        return EntryRequest(method="POST", url="Observation", ifNoneExist=if_none_exist)
    except pydantic.ValidationError as err:
        raise ApiError(400, "The If-None-Exist header is too long.", "bad-condition") from err


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ApiError(400, "The body is not valid UTF-8 JSON.", "not-json") from err


def _bundle(document: Any, max_entries: int) -> TransactionBundle:
    """The upload's envelope, or a 400 saying what is malformed."""
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        raise ApiError(400, "The body must be a FHIR Bundle of type transaction.", "not-a-bundle")
    entries = document.get("entry")
    if isinstance(entries, list) and len(entries) > max_entries:
        raise ApiError(413, f"The Bundle holds {len(entries):,} entries; the limit is "
                       f"{max_entries:,}.", "bundle-too-large")
    try:
        bundle = TransactionBundle.model_validate(document)
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        where = "Bundle" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                                   for p in first["loc"])
        raise ApiError(400, f"{where}: {first['msg']} ({err.error_count()} problem(s) in "
                       "all).", "malformed-bundle") from err
    urls = [e.fullUrl for e in bundle.entry if e.fullUrl]
    if len(urls) != len(set(urls)):
        raise ApiError(400, "Two entries share a fullUrl.", "malformed-bundle")
    return bundle


def _check(conn: DbConn, state: ApiState, device: SignedInDevice,
           entries: Sequence[BundleEntry]) -> list[Entry]:
    limits = state.settings.ingest
    ctx = Context(device=device, registered=registered_names(conn, device_names(entries)),
                  now=clock.now(), future_tolerance_s=limits.future_tolerance_s,
                  horizon_days=limits.horizon_days)
    conn.commit()
    return check_entries(entries, ctx)


def _answer_existing(conn: DbConn, device: SignedInDevice, entries: list[Entry]
                     ) -> list[Entry]:
    """Answer 200 each entry whose readings are all stored already; the rest are new."""
    checked = [e for e in entries if e.readings]
    rows = _rows(conn, device, checked)
    fresh = []
    for entry in checked:
        found = _matching(entry, rows, exact=not entry.conditional)
        if found is None:
            fresh.append(entry)
        elif (refusal := None if entry.conditional else _reused(entry, rows)) is not None:
            entry.refuse(refusal)  # the hub would refuse it too (ingest.reused_ids)
        else:
            entry.answer(200, "Already stored: nothing new was created.", _location(found))
    return fresh


def _reused(entry: Entry, rows: Sequence[dict[str, Any]]) -> ValidationError | None:
    """The refusal of an entry whose identity is stored with another measurement: a plain
    create names the whole identity, so another value under it is not the same reading (a
    conditional create is answered with what its condition matched, as FHIR says)."""
    for reading in entry.readings:
        row = next(r for r in rows if r["metric"] == reading.metric.value
                   and r["reading_key"] == reading.reading_key and r["time"] == reading.time)
        if (refusal := reused_id(reading, row["value"], row["flags"] or ())) is not None:
            return refusal
    return None


def _store(state: ApiState, device: SignedInDevice, fresh: list[Entry]) -> None:
    """Pass the new readings to the hub and wait for them: 201 once stored, else 202."""
    if not fresh:
        return
    _publish(state, device, fresh)
    deadline = time.monotonic() + STORE_WAIT_S
    while True:
        with _connection(state) as conn:
            rows = _rows(conn, device, fresh)
        stored = {e.index: found for e in fresh
                  if (found := _matching(e, rows, exact=True)) is not None}
        if len(stored) == len(fresh) or time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
    for entry in fresh:
        if entry.index in stored:
            entry.answer(201, _stored_text(entry), _location(stored[entry.index]))
        else:
            entry.answer(202, f"Accepted, but not yet stored within {STORE_WAIT_S:g} s; "
                         "send it again later to confirm (it will not be stored twice).")


def _rows(conn: DbConn, device: SignedInDevice, entries: Sequence[Entry]
          ) -> list[dict[str, Any]]:
    rows = readings_with_keys(conn, device.pk, [r for e in entries for r in e.readings])
    conn.commit()
    return rows


def _matching(entry: Entry, rows: Sequence[dict[str, Any]], *, exact: bool
              ) -> dict[str, Any] | None:
    """The stored row of the entry's first reading, if every reading of it is stored."""
    found = []
    for reading in entry.readings:
        match = next((r for r in rows if r["metric"] == reading.metric.value
                      and r["reading_key"] == reading.reading_key
                      and (not exact or r["time"] == reading.time)), None)
        if match is None:
            return None
        found.append(match)
    return found[0]


def _location(row: dict[str, Any]) -> str:
    return f"Observation/{fhir.observation_id(row)}"


def _stored_text(entry: Entry) -> str:
    metrics = " and ".join(r.metric.value for r in entry.readings)
    return f"Stored as {metrics} of the device's patient."


def _publish(state: ApiState, device: SignedInDevice, entries: Sequence[Entry]) -> None:
    """The checked Observations to the hub, as one Bundle on the device's readings topic."""
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": e.message} for e in entries]}
    payload = json.dumps(bundle, separators=(",", ":")).encode()
    if len(payload) > state.settings.ingest.max_payload_bytes:
        raise ApiError(413, "The upload's readings are over the hub's message size limit; "
                       "send them in smaller Bundles.", "bundle-too-large")
    topic = topics.readings_topic(device.device_id, state.settings.topic_root)
    try:
        state.publisher().publish(topic, payload)
    except PublishError as err:
        logger.warning("FHIR upload of device %s not passed on: %s", device.device_id, err)
        raise ApiError(503, "The message broker is not reachable; nothing was stored. Send "
                       "again shortly.", "broker-unavailable", {"Retry-After": "5"}) from err
    logger.info("FHIR upload of device %s: %d observation(s) passed to the hub",
                device.device_id, len(entries))


def _response_entry(entry: Entry) -> dict[str, Any]:
    response: dict[str, Any] = {"status": entry.status_line}
    if entry.location:
        response["location"] = entry.location
    response["outcome"] = operation_outcome(*entry.outcome())
    return {"response": response}


def _error(err: ApiError) -> JSONResponse:
    """A whole-request refusal as an OperationOutcome, as every /fhir error is told."""
    return outcome_response(err.status, err.detail, code=err.code, headers=err.headers)
