"""Read SQL behind the FHIR routes: readings as Observations (by id, by search, in keyset
pages), the rules that fired on them, devices, and alerts as Flags with their evidence."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from alerts.catalogue import Catalogue, load_catalogue
from alerts.rules import Point, band_hit
from alerts.thresholds import Subject, load_subjects
from api.deps import DbConn
from api.render.fhir_ids import KEY_HASH_LENGTH, ObservationKey, observation_id
from api.render.fhir_interpretation import Fired
from api.render.fhir_search import Cursor
from telehub.domain.codes import severity_rank

# The first KEY_HASH_LENGTH hex digits of sha256(reading_key), as api.render.fhir_ids has them.
KEY_HASH_SQL = ("left(encode(sha256(convert_to(r.reading_key, 'UTF8')), 'hex'), "
                f"{KEY_HASH_LENGTH})")
OBSERVATION_COLUMNS = """
r.time, r.patient_id, r.device_id AS device_pk, d.device_id, d.kind::text AS device_kind,
r.metric::text AS metric, r.value, r.raw_value, r.raw_unit::text AS raw_unit, r.flags,
r.reading_key, r.received_at"""
OBSERVATION_BY_KEY_SQL = f"""
SELECT {OBSERVATION_COLUMNS}
FROM readings r JOIN devices d ON d.id = r.device_id
WHERE r.device_id = %(device)s AND r.metric = %(metric)s::metric AND r.time = %(time)s
  AND {KEY_HASH_SQL} = %(hash)s
"""  # noqa: S608 (constant columns; every value is bound)
SEARCH_FILTER = """
r.patient_id = %(patient)s
  AND (%(metrics)s::metric[] IS NULL OR r.metric = ANY(%(metrics)s::metric[]))
  AND (%(start)s::timestamptz IS NULL OR r.time >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR r.time < %(end)s)
  AND (%(updated_start)s::timestamptz IS NULL OR r.received_at >= %(updated_start)s)
  AND (%(updated_end)s::timestamptz IS NULL OR r.received_at < %(updated_end)s)"""
COUNT_SQL = f"SELECT count(*) AS total FROM readings r WHERE {SEARCH_FILTER}"  # noqa: S608
# A patient's alerts on readings whose episode overlaps [low, high]: the engine's record of
# which rules fired (the latest and worst readings with their rule and severity, the
# episode's first and last breach).
FIRED_SQL = """
SELECT a.metric::text AS metric, a.rule_id AS episode, a.first_breach_at, a.last_breach_at,
       a.values
FROM alerts a
WHERE a.patient_id = %(patient)s AND a.metric IS NOT NULL
  AND a.first_breach_at <= %(high)s AND a.last_breach_at >= %(low)s
"""
DEVICE_COLUMNS = """id, device_id, kind::text AS kind, serial, patient_id, active, battery,
                    firmware, last_seen_at"""
DEVICES_SQL = f"SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ANY(%s) ORDER BY id"  # noqa: S608
PATIENT_DEVICES_SQL = (f"SELECT {DEVICE_COLUMNS} FROM devices "  # noqa: S608
                       "WHERE patient_id = %s ORDER BY id")
ALERT_COLUMNS = """a.id, a.patient_id, a.rule_id, a.severity::text AS severity,
       a.status::text AS status, a.message, a.metric::text AS metric, a.values,
       a.first_breach_at, a.last_breach_at, a.resolved_at, a.updated_at"""
ALERT_SQL = f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.id = %s"  # noqa: S608
ALERTS_FILTER = """a.patient_id = %(patient)s
  AND (%(active)s::boolean IS NULL OR (a.status <> 'resolved') = %(active)s)"""
ALERTS_COUNT_SQL = f"SELECT count(*) AS total FROM alerts a WHERE {ALERTS_FILTER}"  # noqa: S608
ALERTS_SQL = f"""
SELECT {ALERT_COLUMNS}
FROM alerts a
WHERE {ALERTS_FILTER}
ORDER BY a.first_breach_at DESC, a.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""  # noqa: S608
EVIDENCE_READINGS_SQL = f"""
SELECT r.device_id AS device_pk, r.metric::text AS metric, r.time, r.reading_key
FROM readings r
WHERE r.patient_id = %(patient)s AND r.metric = %(metric)s::metric AND r.time = ANY(%(times)s)
ORDER BY r.time, r.device_id, {KEY_HASH_SQL}
"""  # noqa: S608
# The alerts a combined review counted: the newest of each episode it names that had
# breached by the review's last breach.
EVIDENCE_ALERTS_SQL = """
SELECT DISTINCT ON (rule_id) id FROM alerts
WHERE patient_id = %(patient)s AND rule_id = ANY(%(episodes)s) AND id <> %(alert)s
  AND first_breach_at <= %(until)s
ORDER BY rule_id, first_breach_at DESC, id DESC
"""


@dataclass(frozen=True)
class ObservationSearch:
    """What an Observation search asks for."""

    patient_id: int
    metrics: list[str] | None
    start: datetime | None
    end: datetime | None
    updated_start: datetime | None
    updated_end: datetime | None
    descending: bool
    count: int
    cursor: Cursor | None


@dataclass(frozen=True)
class ObservationPage:
    """One page of matches and whether there are more before and after it."""

    rows: list[dict[str, Any]]
    total: int
    more_before: bool
    more_after: bool


def observation_by_key(conn: DbConn, key: ObservationKey) -> dict[str, Any] | None:
    """The reading an Observation id names, or None."""
    return conn.execute(OBSERVATION_BY_KEY_SQL, {  # type: ignore[no-any-return]
        "device": key.device_pk, "metric": key.metric.value, "time": key.time,
        "hash": key.key_hash}).fetchone()


def _params(q: ObservationSearch) -> dict[str, Any]:
    return {"patient": q.patient_id, "metrics": q.metrics, "start": q.start, "end": q.end,
            "updated_start": q.updated_start, "updated_end": q.updated_end}


def search_observations(conn: DbConn, q: ObservationSearch) -> ObservationPage:
    """A keyset page of a patient's readings: stable while new readings arrive."""
    total = int(conn.execute(COUNT_SQL, _params(q)).fetchone()["total"])  # type: ignore[index]
    if q.count == 0:
        return ObservationPage([], total, False, total > 0)
    # Walking backwards (a previous link) reads the other way and turns the page round.
    backwards = q.cursor is not None and q.cursor.before
    ascending = q.descending == backwards
    order = sql.SQL("ASC" if ascending else "DESC")
    where: sql.Composable = sql.SQL(SEARCH_FILTER)
    params = {**_params(q), "limit": q.count + 1}
    if q.cursor is not None:
        op = sql.SQL(">" if ascending else "<")
        where = sql.SQL("{} AND (r.time, r.metric, r.device_id, {}) {} "
                        "(%(c_time)s, %(c_metric)s::metric, %(c_device)s, %(c_hash)s)").format(
            where, sql.SQL(KEY_HASH_SQL), op)
        key = q.cursor.key
        params |= {"c_time": key.time, "c_metric": key.metric.value, "c_device": key.device_pk,
                   "c_hash": key.key_hash}
    query = sql.SQL("SELECT {cols} FROM readings r JOIN devices d ON d.id = r.device_id "
                    "WHERE {where} ORDER BY r.time {o}, r.metric {o}, r.device_id {o}, {h} {o} "
                    "LIMIT %(limit)s").format(cols=sql.SQL(OBSERVATION_COLUMNS), where=where,
                                             o=order, h=sql.SQL(KEY_HASH_SQL))
    rows = conn.execute(query, params).fetchall()
    more = len(rows) > q.count
    rows = rows[:q.count]
    if backwards:
        rows.reverse()
        return ObservationPage(rows, total, more, True)
    return ObservationPage(rows, total, q.cursor is not None, more)


def fired_on(conn: DbConn, rows: list[dict[str, Any]]) -> dict[str, list[Fired]]:
    """Observation id -> the rules that fired on that reading.

    The latest and worst readings of an episode fired the rule its alert records for them.
    Readings between an episode's first and last breach are counted, not recorded: one of
    them fired a single-reading band rule of the episode when it lies in that band at the
    patient's current parameters (alerts.rules.band_hit, the engine's own test; never a
    low-quality reading), the worst such band per episode, so a run of readings in a red
    band reads critical throughout, not only at its ends.
    """
    out: dict[str, list[Fired]] = defaultdict(list)
    by_patient: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_patient[r["patient_id"]].append(r)
    catalogue = load_catalogue()
    for patient, readings in by_patient.items():
        times = [r["time"] for r in readings]
        alerts = conn.execute(FIRED_SQL, {"patient": patient, "low": min(times),
                                          "high": max(times)}).fetchall()
        if not alerts:
            continue
        subject = load_subjects(conn, [patient]).get(patient)
        for r in readings:
            fired: list[Fired] = []
            for alert in (a for a in alerts if a["metric"] == r["metric"]):
                recorded = [Fired(snap[2], snap[3], _limits(catalogue, subject, alert["values"],
                                                            snap[2]))
                            for snap in _snapshots(alert["values"])
                            if snap[0] == r["time"] and abs(snap[1] - float(r["value"])) < 1e-6]
                fired.extend(recorded)
                if not recorded and subject is not None and alert["first_breach_at"] <= (
                        r["time"]) <= alert["last_breach_at"]:
                    band = _worst_band(catalogue, subject, alert["episode"], r)
                    if band is not None:
                        fired.append(band)
            if fired:
                out[observation_id(r)] = list(dict.fromkeys(fired))
    return out


def _snapshots(values: Any) -> list[tuple[datetime, float, str, str]]:
    """(time, value, rule, severity) of the readings an alert's values record."""
    out = []
    for key in ("latest", "worst"):
        snap = values.get(key) if isinstance(values, dict) else None
        if isinstance(snap, dict) and {"time", "value", "rule", "severity"} <= snap.keys():
            out.append((datetime.fromisoformat(str(snap["time"])), float(snap["value"]),
                        str(snap["rule"]), str(snap["severity"])))
    return out


def _limits(catalogue: Catalogue, subject: Subject | None, values: Any,
            rule_id: str) -> Mapping[str, Any] | None:
    """The limits `rule_id` fired at: the alert's recorded threshold when it is that rule's
    (the patient's parameters when the alert was raised), else the patient's current ones."""
    if isinstance(values, dict) and values.get("rule") == rule_id and isinstance(
            values.get("threshold"), dict):
        return dict(values["threshold"])
    rule = catalogue.get(rule_id)
    return subject.params(rule) if subject is not None and rule is not None else None


def _worst_band(catalogue: Catalogue, subject: Subject, episode: str,
                row: dict[str, Any]) -> Fired | None:
    point = Point(time=row["time"], value=float(row["value"]), raw_value=row["raw_value"],
                  raw_unit=row["raw_unit"], flags=tuple(row["flags"] or ()))
    if point.low_quality:
        return None
    # A band that needs several readings in a row is left to the engine's record.
    hits = [rule for rule in catalogue.rules
            if rule.episode == episode and rule.kind == "band" and subject.applies(rule)
            and int(subject.params(rule).get("consecutive", 1) or 1) == 1
            and band_hit(rule, subject.params(rule), point)]
    if not hits:
        return None
    worst = max(hits, key=lambda rule: severity_rank(rule.severity))
    return Fired(worst.id, worst.severity, subject.params(worst))


def devices_by_id(conn: DbConn, ids: list[int]) -> list[dict[str, Any]]:
    """Device rows by primary key."""
    return conn.execute(DEVICES_SQL, (sorted(set(ids)),)).fetchall()


def patient_devices(conn: DbConn, patient_id: int) -> list[dict[str, Any]]:
    """The devices registered to a patient."""
    return conn.execute(PATIENT_DEVICES_SQL, (patient_id,)).fetchall()


def alert_by_id(conn: DbConn, alert_id: int) -> dict[str, Any] | None:
    """One alert row, or None."""
    return conn.execute(ALERT_SQL, (alert_id,)).fetchone()  # type: ignore[no-any-return]


def patient_alerts(conn: DbConn, patient_id: int, active: bool | None, limit: int,
                   offset: int) -> tuple[list[dict[str, Any]], int]:
    """A page of a patient's alerts, newest first, and how many the search matches."""
    params = {"patient": patient_id, "active": active, "limit": limit, "offset": offset}
    total = conn.execute(ALERTS_COUNT_SQL, params).fetchone()["total"]  # type: ignore[index]
    return conn.execute(ALERTS_SQL, params).fetchall(), int(total)


def evidence(conn: DbConn, alert: dict[str, Any]) -> list[str]:
    """References to what raised an alert: the Observations of its latest and worst readings,
    or, for a combined review, the Flags of the alerts it counted."""
    values = alert.get("values") or {}
    if alert["metric"] is not None:
        times = sorted({datetime.fromisoformat(str(values[k]["time"]))
                        for k in ("latest", "worst")
                        if isinstance(values.get(k), dict) and values[k].get("time")})
        if not times:
            return []
        rows = conn.execute(EVIDENCE_READINGS_SQL, {"patient": alert["patient_id"],
                                                    "metric": alert["metric"],
                                                    "times": times}).fetchall()
        return [f"Observation/{observation_id(r)}" for r in rows]
    episodes = values.get("alerts")
    if not isinstance(episodes, list) or not episodes:
        return []
    rows = conn.execute(EVIDENCE_ALERTS_SQL, {"patient": alert["patient_id"],
                                              "episodes": [str(e) for e in episodes],
                                              "alert": alert["id"],
                                              "until": alert["last_breach_at"]}).fetchall()
    return [f"Flag/{r['id']}" for r in rows]
