"""The clinical scenario book: patients, readings and the alerts a matron expects, kept as data.

Each scenario (docs/clinical-safety/scenarios/*.toml) names a patient (conditions, care plan,
SpO2 scale, home oxygen, status, individual thresholds), the readings their devices send in
the units they send them, at times on the local clock ("now-30m", "-3d 07:30",
"yesterday 21:00"), in the order they arrive (`send`), and the alerts that must follow, by
catalogue rule id and severity; every other alert is noise and fails the scenario. The
scenario test publishes them over the real broker to the real hub at several hours of the
day; the alert-burden benchmark counts what the same scenarios raise.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from alerts.catalogue import load_catalogue
from alerts.thresholds import set_spo2_scale, set_threshold
from telehub.care import registration
from telehub.domain import clock
from telehub.errors import ValidationError

BOOK_DIR = Path(__file__).resolve().parent.parent / "docs" / "clinical-safety" / "scenarios"
# Rules the scheduler runs, not the readings: compared only in scenarios that say so.
SCHEDULER_KINDS = frozenset({"missing", "device", "sequence-gap"})
_RELATIVE = re.compile(r"now(?:-(\d+)([mhd]))?")
_ON_DAY = re.compile(r"(today|yesterday|-(\d+)d) (\d{1,2}):(\d{2})")
_STEP = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_STATUSES = ("active", "paused", "in-hospital", "discharged")


@dataclass(frozen=True)
class BookReading:
    """One reading as a device sends it, at a time on the local clock."""

    at: str
    metric: str
    value: float | str
    unit: str | None
    flags: tuple[str, ...] = ()
    send: int = 1

    def time_at(self, now: datetime, zone: ZoneInfo) -> datetime:
        """The UTC instant `at` names when the service clock reads `now`."""
        return resolve_time(self.at, now, zone)


@dataclass(frozen=True)
class Expected:
    """An alert the scenario must raise."""

    rule: str
    severity: str
    late: bool | None = None
    cleared: bool | None = None
    says: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """One clinical scenario of the book."""

    id: str
    title: str
    conditions: tuple[str, ...]
    readings: tuple[BookReading, ...]
    expect: tuple[Expected, ...]
    care_plan: Mapping[str, Any] | None = None
    spo2_scale: int | None = None
    on_home_oxygen: bool = False
    status: str = "active"
    paused_days: int = 0
    thresholds: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    resolve_after: int | None = None      # the nurse closes the alerts after this send
    scheduler: bool = False
    clock_time: time | None = None        # run at this local time of the anchor's day
    decided: str = ""                     # behaviour chosen where the catalogue is silent
    source: str = ""

    @property
    def sends(self) -> int:
        """How many messages' worth of arrivals the scenario has."""
        return max((r.send for r in self.readings), default=0)

    def clock_at(self, anchor: datetime, zone: ZoneInfo) -> datetime:
        """The service time to run at: the anchor, or `clock_time` on the anchor's local day."""
        if self.clock_time is None:
            return clock.as_utc(anchor)
        day = clock.as_utc(anchor).astimezone(zone).date()
        return datetime.combine(day, self.clock_time, tzinfo=zone).astimezone(UTC)


def resolve_time(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    """"now", "now-30m", "now-8h", "now-2d", or a local wall time on a day before today:
    "today 07:30", "yesterday 21:00", "-3d 07:30" (clock-change days keep the wall time)."""
    spoken = text.strip()
    relative = _RELATIVE.fullmatch(spoken)
    if relative:
        amount, unit = relative.groups()
        return clock.as_utc(now) - (int(amount) * _STEP[unit] if amount else timedelta(0))
    on_day = _ON_DAY.fullmatch(spoken)
    if not on_day:
        raise ValidationError("bad-scenario-time", f"'{text}' is not a scenario time "
                              "(now, now-30m, now-8h, today 07:30, yesterday 21:00, -3d 07:30).")
    word, days, hour, minute = on_day.groups()
    back = {"today": 0, "yesterday": 1}.get(word, int(days or 0))
    day: date = clock.service_date(now, zone) - timedelta(days=back)
    return datetime.combine(day, time(int(hour), int(minute)), tzinfo=zone).astimezone(UTC)


def load_book(directory: Path = BOOK_DIR) -> list[Scenario]:
    """Every scenario of the book, checked: unknown rules, severities or fields are errors."""
    scenarios: list[Scenario] = []
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as handle:
            document = tomllib.load(handle)
        for raw in document.get("scenario", []):
            try:
                scenarios.append(parse_scenario(raw))
            except (KeyError, TypeError, ValueError) as err:
                raise ValidationError("bad-scenario", f"{path.name}: scenario "
                                      f"{raw.get('id', '?')}: {err}") from err
    ids = [s.id for s in scenarios]
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    if doubled:
        raise ValidationError("bad-scenario", f"scenario ids used twice: {', '.join(doubled)}")
    return scenarios


_SCENARIO_FIELDS = {"id", "title", "patient", "readings", "expect", "resolve_after",
                    "scheduler", "clock", "decided", "source"}
_PATIENT_FIELDS = {"conditions", "care_plan", "spo2_scale", "on_home_oxygen", "status",
                   "paused_days", "thresholds"}


def parse_scenario(raw: Mapping[str, Any]) -> Scenario:
    """One scenario from its TOML table."""
    _only(raw, _SCENARIO_FIELDS, "scenario")
    patient = raw.get("patient", {})
    _only(patient, _PATIENT_FIELDS, "patient")
    rules = {rule.id: rule for rule in load_catalogue().rules}
    expect = tuple(_expected(e, rules) for e in raw["expect"])
    status = patient.get("status", "active")
    if status not in _STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(_STATUSES)}")
    overrides = tuple((t["rule"], dict(t["params"])) for t in patient.get("thresholds", []))
    for rule_id, _params in overrides:
        if rule_id not in rules:
            raise ValueError(f"threshold for unknown rule {rule_id!r}")
    at = raw.get("clock")
    return Scenario(
        id=str(raw["id"]), title=str(raw["title"]),
        conditions=tuple(patient.get("conditions", ())),
        readings=tuple(_reading(r) for r in raw["readings"]), expect=expect,
        care_plan=patient.get("care_plan"), spo2_scale=patient.get("spo2_scale"),
        on_home_oxygen=bool(patient.get("on_home_oxygen", False)), status=status,
        paused_days=int(patient.get("paused_days", 0)), thresholds=overrides,
        resolve_after=raw.get("resolve_after"), scheduler=bool(raw.get("scheduler", False)),
        clock_time=time.fromisoformat(at) if at else None,
        decided=str(raw.get("decided", "")), source=str(raw.get("source", "")))


def _only(table: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(f"unknown {what} field(s): {', '.join(unknown)}")


def _reading(raw: Mapping[str, Any]) -> BookReading:
    _only(raw, {"at", "metric", "value", "unit", "flags", "send"}, "reading")
    return BookReading(at=str(raw["at"]), metric=str(raw["metric"]), value=raw["value"],
                       unit=raw.get("unit"), flags=tuple(raw.get("flags", ())),
                       send=int(raw.get("send", 1)))


def _expected(raw: Mapping[str, Any], rules: Mapping[str, Any]) -> Expected:
    _only(raw, {"rule", "severity", "late", "cleared", "says"}, "expect")
    rule = str(raw["rule"])
    if rule not in rules and not rule.startswith("telecare-"):
        raise ValueError(f"expects unknown rule {rule!r}")
    severity = str(raw["severity"])
    if severity not in ("info", "amber", "red"):
        raise ValueError(f"severity {severity!r} is not info, amber or red")
    says = raw.get("says", ())
    return Expected(rule, severity, raw.get("late"), raw.get("cleared"),
                    (says,) if isinstance(says, str) else tuple(says))


def register(conn: psycopg.Connection, scenario: Scenario, team_id: int, nhs_number: str,
             now: datetime) -> int:
    """Register the scenario's patient as the nurse would: conditions, care plan, scale,
    oxygen, individual thresholds and status; returns the patient id."""
    pid = registration.add_patient(
        conn, nhs_number=nhs_number, given_name="Scenario", family_name=scenario.id,
        birth_date=date(1946, 5, 1), team=team_id, conditions=scenario.conditions,
        care_plan=dict(scenario.care_plan) if scenario.care_plan is not None else None)
    # Enrolled a month before the scenario's readings, as a patient on the caseload is.
    conn.execute("UPDATE patients SET enrolled_at = %s, on_home_oxygen = %s WHERE id = %s",
                 (now - timedelta(days=30), scenario.on_home_oxygen, pid))
    if scenario.spo2_scale is not None:
        set_spo2_scale(conn, pid, scenario.spo2_scale, "Scenario book", "Dr Scenario")
    for rule_id, params in scenario.thresholds:
        set_threshold(conn, pid, rule_id, dict(params), "Scenario book", "Dr Scenario")
    if scenario.status != "active":
        paused = now + timedelta(days=scenario.paused_days or 7) \
            if scenario.status == "paused" else None
        conn.execute("UPDATE patients SET status = %s, paused_until = %s WHERE id = %s",
                     (scenario.status, paused, pid))
    return pid


def in_clock_order(scenarios: Iterable[Scenario], anchor: datetime, zone: ZoneInfo
                   ) -> list[tuple[datetime, list[Scenario]]]:
    """The scenarios grouped by the service time they run at, earliest first (the clock only
    moves on)."""
    groups: dict[datetime, list[Scenario]] = {}
    for scenario in scenarios:
        groups.setdefault(scenario.clock_at(anchor, zone), []).append(scenario)
    return sorted(groups.items())


def arrivals(scenario: Scenario, step: int, now: datetime, zone: ZoneInfo
             ) -> dict[str, list[dict[str, Any]]]:
    """The native payload items of arrival `step`, by metric, as the devices send them."""
    items: dict[str, list[dict[str, Any]]] = {}
    for k, reading in enumerate(scenario.readings):
        if reading.send != step:
            continue
        item: dict[str, Any] = {
            "id": f"{scenario.id}-{k}", "metric": reading.metric, "value": reading.value,
            "time": reading.time_at(now, zone).isoformat().replace("+00:00", "Z")}
        if reading.unit is not None:
            item["unit"] = reading.unit
        if reading.flags:
            item["flags"] = list(reading.flags)
        items.setdefault(reading.metric, []).append(item)
    return items


def alert_key(alert: Mapping[str, Any]) -> str:
    """The catalogue rule an alert row was raised by (the episode's rule for one-rule ones)."""
    values = alert.get("values") or {}
    return str(values.get("rule") or alert["rule_id"])


def compare(scenario: Scenario, alerts: Sequence[Mapping[str, Any]]) -> list[str]:
    """What differs between the scenario's expected alerts and the patient's open alerts."""
    kinds = {rule.id: rule.kind for rule in load_catalogue().rules}
    compared = [a for a in alerts if a["status"] != "resolved"
                and (scenario.scheduler or kinds.get(alert_key(a)) not in SCHEDULER_KINDS)]
    problems: list[str] = []
    unmatched = list(compared)
    for want in scenario.expect:
        found = [a for a in unmatched if alert_key(a) == want.rule
                 and a["severity"] == want.severity]
        if not found:
            problems.append(f"expected {want.rule} {want.severity}, not raised")
            continue
        alert = found[0]
        unmatched.remove(alert)
        if want.late is not None and bool(alert["late"]) != want.late:
            problems.append(f"{want.rule}: late is {bool(alert['late'])}, expected {want.late}")
        if want.cleared is not None and (alert["condition_cleared_at"] is not None) \
                != want.cleared:
            problems.append(f"{want.rule}: condition cleared is "
                            f"{alert['condition_cleared_at'] is not None}")
        problems.extend(f"{want.rule}: the sentence does not say {text!r}: {alert['message']}"
                        for text in want.says if text not in alert["message"])
    problems.extend(f"unexpected {alert_key(a)} {a['severity']}: {a['message']}"
                    for a in unmatched)
    return problems


def covered_rules(scenarios: Iterable[Scenario]) -> set[str]:
    """The catalogue rules some scenario expects to fire."""
    return {e.rule for s in scenarios for e in s.expect}
