"""The rules engine as it was before rule summaries (alerts/engine.py at 62e9759), the
reference the differential test compares the engine with; changed only where the rules
changed (readings sharing a time are each judged, one newest reading: GLUC-22, GLUC-23)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from alerts import store
from alerts.catalogue import Catalogue, Rule, load_catalogue
from alerts.sentences import limit_fields, reading_fields, render
from alerts.thresholds import Subject, load_subjects
from telehub.config import AlertSettings, get_settings
from telehub.domain import clock
from telehub.domain.codes import SEVERITIES, Severity, severity_rank
from telehub.domain.readings import StoredReading
from telehub.domain.units import Metric
from telehub.errors import ConfigError
from tests.alerts.reference_engine.rules import CHECKS, Hit, Point, Series, band_hit, extremity

logger = logging.getLogger(__name__)

# SpO2 below this is outside oximeters' stated accuracy: unverified.
SPO2_VERIFIED_MIN = 70.0
_NIGHT_HOURS = range(0, 6)
# History each metric's rules need by default; widened when a patient's params ask for more.
_LOOKBACK = {Metric.WEIGHT: timedelta(days=9), Metric.SPO2: timedelta(days=8),
             Metric.PULSE: timedelta(days=3), Metric.GLUCOSE: timedelta(days=8)}

# A patient measures a few times a day; a series far denser than that (a device stuck in a
# loop, a load test) is cut to its newest readings so one batch cannot stall ingest.
MAX_HISTORY_PER_SERIES = 5000
_HISTORY_SQL = """
SELECT w.pid AS patient_id, w.metric::text AS metric, r.time, r.value, r.raw_value,
       r.raw_unit::text AS raw_unit, r.flags, r.device_id, r.reading_key
FROM unnest(%s::bigint[], %s::metric[], %s::timestamptz[]) AS w(pid, metric, since)
CROSS JOIN LATERAL (
    SELECT time, value, raw_value, raw_unit, flags, device_id, reading_key FROM readings
    WHERE patient_id = w.pid AND metric = w.metric AND time >= w.since
    ORDER BY time DESC LIMIT %s
) AS r
ORDER BY w.pid, w.metric, r.time, r.device_id, r.reading_key
"""


@dataclass(frozen=True)
class Finding:
    """A rule that fired on one reading, after night, late and quality adjustments."""

    hit: Hit
    severity: str
    message: str
    late: bool
    params: Mapping[str, Any]      # the patient's effective parameters of the rule
    shown: str = ""                # the reading as the sentence says it: "88 % at 08:01 on …"


def _settings() -> tuple[AlertSettings, ZoneInfo]:
    try:
        s = get_settings()
    except (ConfigError, ValueError):
        return AlertSettings(), clock.service_zone()
    return s.alerts, s.zone


def evaluate(conn: psycopg.Connection, readings: Sequence[StoredReading], *,
             now: datetime | None = None) -> None:
    """Evaluate the rules for the patients `readings` touched, in the caller's transaction."""
    if not readings:
        return
    now = now or clock.now()
    catalogue = load_catalogue()
    alert_settings, zone = _settings()
    patient_ids = sorted({r.patient_id for r in readings})
    store.lock_patients(conn, patient_ids)
    subjects = load_subjects(conn, patient_ids)
    history = _load_history(conn, readings, subjects, catalogue)
    freshness = timedelta(hours=alert_settings.acute_freshness_hours)

    findings: dict[tuple[int, str], list[Finding]] = defaultdict(list)
    clear: dict[tuple[int, str], str] = {}
    seen_metrics: dict[int, set[str]] = defaultdict(set)
    new_by_series: dict[tuple[int, Metric], list[StoredReading]] = defaultdict(list)
    for r in readings:
        new_by_series[(r.patient_id, r.metric)].append(r)
    for (pid, metric), new in new_by_series.items():
        subject = subjects.get(pid)
        if subject is None:
            continue
        series = _series(catalogue, subject, metric, history.get((pid, metric), []), zone)
        index = {(p.time, p.device_id, p.key): k for k, p in enumerate(series.points)}
        positions = sorted({k for k in (index.get((r.time, r.device_id, r.reading_key))
                                        for r in new) if k is not None})
        for k in positions:
            for f in _evaluate_point(catalogue, subject, series, k, now, freshness, zone):
                findings[(pid, f.hit.rule.episode)].append(f)
            if not series.points[k].low_quality:
                seen_metrics[pid].add(metric.value)
        for f in _recheck_newer(catalogue, subject, series, positions, now, freshness, zone):
            findings[(pid, f.hit.rule.episode)].append(f)
        if positions and positions[-1] == len(series.points) - 1:
            tied = [k for k, p in enumerate(series.points) if p.time == series.points[-1].time]
            if not any(series.points[k].low_quality for k in tied):   # one newest reading
                clearing = _clearing_episodes(catalogue, subject, metric)
                fired = {e for e in clearing for f in findings.get((pid, e), [])
                         if any(f.hit.point is series.points[k] for k in tied)}
                fired |= {f.hit.rule.episode for k in tied if k not in positions
                          for f in _evaluate_point(catalogue, subject, series, k, now,
                                                   freshness, zone)}
                for episode in clearing - fired:
                    clear[(pid, episode)] = metric.value
    _apply(conn, catalogue, subjects, findings, clear, seen_metrics, now, zone)


def _series(catalogue: Catalogue, subject: Subject, metric: Metric, points: list[Point],
            zone: ZoneInfo) -> Series:
    plan = subject.care_plan.get(metric.value)
    morning = isinstance(plan, dict) and plan.get("window") == "morning"
    outlier = catalogue.get("weight-scale-error")
    jump = float(subject.params(outlier).get("jump_kg", 5.0)) if outlier else 5.0
    return Series(metric, points, zone, morning=morning, dry_weight_kg=subject.dry_weight_kg,
                  jump_kg=jump)


def _load_history(conn: psycopg.Connection, readings: Sequence[StoredReading],
                  subjects: Mapping[int, Subject], catalogue: Catalogue
                  ) -> dict[tuple[int, Metric], list[Point]]:
    """Each touched series from the lookback before its oldest new reading (one query)."""
    oldest: dict[tuple[int, Metric], datetime] = {}
    for r in readings:
        key = (r.patient_id, r.metric)
        oldest[key] = min(oldest.get(key, r.time), r.time)
    keys = sorted(oldest)
    since = [oldest[k] - _lookback(k[1], subjects.get(k[0]), catalogue) for k in keys]
    params = ([k[0] for k in keys], [k[1].value for k in keys], since, MAX_HISTORY_PER_SERIES)
    rows = conn.cursor(row_factory=dict_row).execute(_HISTORY_SQL, params).fetchall()
    out: dict[tuple[int, Metric], list[Point]] = defaultdict(list)
    for row in rows:
        out[(row["patient_id"], Metric(row["metric"]))].append(Point(
            time=row["time"], value=row["value"], raw_value=row["raw_value"],
            raw_unit=row["raw_unit"], flags=tuple(row["flags"]), device_id=row["device_id"],
            key=row["reading_key"]))
    return out


def _lookback(metric: Metric, subject: Subject | None, catalogue: Catalogue) -> timedelta:
    span = _LOOKBACK[metric]
    if subject is None:
        return span
    for rule in catalogue.for_metric(metric):
        params = subject.params(rule)
        for name, unit in (("days", 24.0), ("hours", 1.0)):
            value = params.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                span = max(span, timedelta(hours=float(value) * unit + 48))
    return span


def _recheck_newer(catalogue: Catalogue, subject: Subject, series: Series,
                   positions: Sequence[int], now: datetime, freshness: timedelta,
                   zone: ZoneInfo) -> list[Finding]:
    """What late readings completed: the stored readings newer than a new one, within the
    metric's rule windows, evaluated again with and without the batch; only findings the
    batch made (a pattern it completed, a higher severity) count, so a reading that already
    raised its alert, or whose alert a nurse has resolved, does not raise it again."""
    if not positions:
        return []
    fresh = set(positions)
    horizon = series.points[positions[0]].time + _lookback(series.metric, subject, catalogue)
    newer = [k for k in range(positions[0] + 1, len(series.points))
             if k not in fresh and series.points[k].time <= horizon]
    if not newer:
        return []
    kept = [p for k, p in enumerate(series.points) if k not in fresh]
    before = replace(series, points=kept)
    where = {(p.time, p.device_id, p.key): k for k, p in enumerate(kept)}
    out: list[Finding] = []
    for k in newer:
        point = series.points[k]
        had = {(f.hit.rule.id, f.severity) for f in _evaluate_point(
            catalogue, subject, before, where[(point.time, point.device_id, point.key)], now,
            freshness, zone)}
        out.extend(f for f in _evaluate_point(catalogue, subject, series, k, now, freshness, zone)
                   if (f.hit.rule.id, f.severity) not in had)
    return out


def _clearing_episodes(catalogue: Catalogue, subject: Subject, metric: Metric) -> set[str]:
    return {r.episode for r in catalogue.for_metric(metric) if r.clears and subject.applies(r)}


def _evaluate_point(catalogue: Catalogue, subject: Subject, series: Series, k: int,
                    now: datetime, freshness: timedelta, zone: ZoneInfo) -> list[Finding]:
    """Every rule of the metric on reading `k`, worst per episode."""
    point = series.points[k]
    rules = [r for r in catalogue.for_metric(series.metric) if subject.applies(r)]
    hits: list[Hit] = []
    if point.low_quality:
        hits.extend(_quality_hits(catalogue, subject, series, k, rules))
    else:
        outlier = next((r for r in rules if r.kind == "outlier"), None)
        found = CHECKS["outlier"](outlier, subject.params(outlier), series, k) if outlier else None
        if found is not None:
            hits.append(found)   # a suspected scale error is left out of the weight rules
        else:
            for rule in rules:
                if rule.kind != "outlier":
                    hit = CHECKS[rule.kind](rule, subject.params(rule), series, k)
                    if hit is not None:
                        hits.append(hit)
    worst: dict[str, Finding] = {}
    for hit in hits:
        f = _finding(hit, subject, series.metric, now, freshness, zone)
        current = worst.get(hit.rule.episode)
        if current is None or severity_rank(f.severity) > severity_rank(current.severity):
            worst[hit.rule.episode] = f
    return list(worst.values())


def _quality_hits(catalogue: Catalogue, subject: Subject, series: Series, k: int,
                  rules: Sequence[Rule]) -> list[Hit]:
    """A low-quality reading never fires a threshold rule: it may ask for a repeat reading."""
    point = series.points[k]
    out = []
    breached = [r for r in rules if r.kind == "band" and r.severity != Severity.INFO
                and band_hit(r, subject.params(r), point)]
    repeat = catalogue.get("repeat-reading")
    if breached and repeat is not None:
        would = max(breached, key=lambda r: severity_rank(r.severity))
        label = catalogue.episode_label(would.episode).lower()
        out.append(Hit(repeat, point, {"would": f"{would.severity} ({label}, rule {would.id})"}))
    device = catalogue.get("check-device-use")
    if device is not None:
        hit = CHECKS["quality-count"](device, subject.params(device), series, k)
        if hit is not None:
            out.append(hit)
    return out


def _finding(hit: Hit, subject: Subject, metric: Metric, now: datetime, freshness: timedelta,
             zone: ZoneInfo) -> Finding:
    """Severity and words after night, late-reading and verification adjustments."""
    rule, point = hit.rule, hit.point
    params = subject.params(rule)
    fields: dict[str, Any] = {**params, **limit_fields(rule, params),
                              **reading_fields(metric, point, zone), **hit.fields}  # type: ignore[arg-type]
    message = render(rule.sentence, fields)
    if hit.fields.get("off_schedule"):
        message += (" Not a morning weight: the care plan asks for one before breakfast, so "
                    "this is the day's first weight and may read heavier.")
    severity = rule.severity
    if rule.night_escalate and point.time.astimezone(zone).hour in _NIGHT_HOURS:
        severity = SEVERITIES[min(severity_rank(severity) + 1, len(SEVERITIES) - 1)]
        if severity != rule.severity:
            message += " Raised one level because it happened at night (00:00–06:00)."
    if metric == Metric.SPO2 and point.value < SPO2_VERIFIED_MIN and rule.severity == Severity.RED:
        message += (" Below 70 % oximeters' stated accuracy does not hold: unverified, ask the "
                    "patient to retake the reading now.")
    late = False
    age = now - point.time
    if rule.acute and age > freshness:
        late = True
        hours = age.total_seconds() / 3600
        message = (f"Late reading (measured {hours:.0f} h ago, arrived by store-and-forward): "
                   f"review. {message}")
        if severity == Severity.RED:
            severity = Severity.AMBER
    return Finding(hit, severity, message, late, subject.params(rule),
                   shown=f"{fields['value']} at {fields['time']}")


def _extreme(f: Finding) -> float:
    """How bad the reading is within its severity (lowest SpO2 or glucose, highest gain)."""
    if "change" in f.hit.fields:
        return float(f.hit.fields["change"])
    return extremity(f.hit.rule, f.params, f.hit.point.value)


def _snapshot(f: Finding) -> dict[str, Any]:
    point = f.hit.point
    return {"value": point.value, "raw_value": point.raw_value, "raw_unit": point.raw_unit,
            "time": point.time.isoformat(), "rule": f.hit.rule.id, "severity": f.severity,
            "extreme": _extreme(f), "shown": f.shown}


def _raised(episode: str, found: list[Finding]) -> store.Raised:
    # The sentence names the newest reading at the episode's highest severity; the worst
    # value is the most extreme reading of that severity, kept when later ones are milder.
    top = max(severity_rank(f.severity) for f in found)
    newest = max((f for f in found if severity_rank(f.severity) == top),
                 key=lambda f: f.hit.point.time)
    worst = max((f for f in found if severity_rank(f.severity) == top),
                key=lambda f: (_extreme(f), f.hit.point.time))
    latest = max(found, key=lambda f: f.hit.point.time)
    metric = worst.hit.rule.metric.value if worst.hit.rule.metric else None
    rule = newest.hit.rule
    return store.Raised(
        episode=episode, rule_id=rule.id, severity=newest.severity, message=newest.message,
        metric=metric, first=min(f.hit.point.time for f in found),
        last=max(f.hit.point.time for f in found), occurrences=len(found),
        values={"rule": rule.id, "latest": _snapshot(latest), "worst": _snapshot(worst),
                "threshold": dict(newest.params)
                | {"unit": rule.unit or (rule.metric and _unit(rule.metric))},
                "source": rule.source},
        late=all(f.late for f in found), named=newest.hit.point.time.isoformat(),
        suppress_hours=0.0 if newest.severity == Severity.RED else max(
            f.hit.rule.suppression_hours for f in found if f.severity == newest.severity),
    )


def _unit(metric: Metric) -> str:
    from telehub.domain.units import SPECS

    return SPECS[metric].canonical.value


def _apply(conn: psycopg.Connection, catalogue: Catalogue, subjects: Mapping[int, Subject],
           findings: Mapping[tuple[int, str], list[Finding]], clear: Mapping[tuple[int, str], str],
           seen_metrics: Mapping[int, set[str]], now: datetime, zone: ZoneInfo) -> None:
    """Write the batch's alerts, clear what came back in range, check combined ambers."""
    pids = list(subjects)
    active = store.active_alerts(conn, pids)
    resolved = store.recently_resolved(conn, pids, now - timedelta(days=8))
    items = [(_target(subjects[pid]), _raised(episode, found))
             for (pid, episode), found in sorted(findings.items())]
    written = store.raise_alerts(conn, items, active, resolved, now)
    active.update(written)
    amber_raised = {pid for (pid, _), alert in written.items()
                    if alert["severity"] == Severity.AMBER}
    cleared = []
    for (pid, episode), metric in clear.items():
        alert = active.get((pid, episode))
        if alert is not None:      # an earlier reading of the batch may have raised it
            cleared.append((alert, f"The latest {metric} reading is back in range."))
    for pid, metrics in seen_metrics.items():
        alert = active.get((pid, "missing-readings"))
        if alert is not None and set(alert["values"].get("metrics", [])) & metrics:
            cleared.append((alert, "Readings have resumed."))
    store.mark_cleared_many(conn, cleared, now)
    _combined(conn, catalogue, subjects, amber_raised, active, resolved, now, zone)


def _warning_sign(catalogue: Catalogue, alert: Mapping[str, Any]) -> bool:
    """An amber alert that counts towards combined-amber: a threshold rule of a metric, on
    readings that were not late (late readings never make a red), never a measurement prompt."""
    if alert["severity"] != Severity.AMBER or alert["metric"] is None or alert["late"]:
        return False
    rule = catalogue.get(str((alert.get("values") or {}).get("rule", "")))
    return rule is not None and not rule.is_measurement_prompt


def _target(subject: Subject) -> store.Target:
    return store.Target(subject.id, subject.team_id, subject.team_code, subject.display_id)


def _combined(conn: psycopg.Connection, catalogue: Catalogue, subjects: Mapping[int, Subject],
              patient_ids: set[int], active: dict[tuple[int, str], dict[str, Any]],
              resolved: Mapping[tuple[int, str], Any], now: datetime, zone: ZoneInfo) -> None:
    """Two or more amber alerts on different metrics within 24 h make one red review.

    A daily weight stands for its whole day: a weight amber counts while its daily weight is
    today's or yesterday's, so yesterday morning's gain and this evening's low SpO2 make a
    review at any hour (24 h from a 07:30 weight would end before the evening)."""
    rule = catalogue.get("combined-amber")
    if rule is None:
        return
    yesterday = clock.day_start(clock.service_date(now, zone) - timedelta(days=1), zone)
    items = []
    for pid in sorted(patient_ids):
        subject = subjects[pid]
        params = subject.params(rule)
        since = now - timedelta(hours=float(params.get("hours", 24)))
        ambers = [a for (p, _), a in active.items() if p == pid and _warning_sign(catalogue, a)
                  and a["last_breach_at"] > (min(since, yesterday)
                                             if a["metric"] == Metric.WEIGHT else since)]
        metrics = {a["metric"] for a in ambers}
        if len(metrics) < int(params.get("count", 2)):
            continue
        detail = ", ".join(sorted(catalogue.episode_label(a["rule_id"]) for a in ambers))
        message = render(rule.sentence, {**params, "n": len(ambers), "detail": detail})
        items.append((_target(subject), store.Raised(
            episode=rule.episode, rule_id=rule.id, severity=rule.severity, message=message,
            metric=None, first=now, last=now,
            values={"rule": rule.id, "alerts": sorted(a["rule_id"] for a in ambers),
                    "metrics": sorted(metrics)})))
    if items:
        active.update(store.raise_alerts(conn, items, active, resolved, now))
