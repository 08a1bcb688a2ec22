"""Individual thresholds: a clinician's per-patient overrides of the catalogue's parameters,
permanent or temporary.

A temporary override ("SpO2 amber at 90 % for 14 days after this exacerbation") has an end
(`ends_at`, an instant on the service clock) and lies over the permanent one: while it lasts
its parameters win, and from its end the permanent override (or the catalogue default) applies
again by itself, without anyone acting. Setting a permanent override ends the rule's temporary
one (the clinician has just reviewed the rule); a new temporary one replaces the last. Every
row stays as history: who, why, when, until when.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts.catalogue import Catalogue, Rule, load_catalogue
from alerts.threshold_values import entry_value, param_unit, params_text, threshold_value
from telehub.domain import clock
from telehub.errors import NotFoundError, ValidationError

# The NEWS2 SpO2 scale is stored as an override of this pseudo-rule: {"scale": 2}.
SPO2_SCALE_RULE = "spo2-scale"

_PATIENTS_SQL = """
SELECT p.id, p.display_id, p.team_id, t.code AS team_code, p.conditions, p.care_plan,
       p.on_home_oxygen, p.status::text AS status, p.paused_until, p.enrolled_at,
       p.named_nurse_id
FROM patients p JOIN teams t ON t.id = p.team_id
WHERE p.id = ANY(%s)
"""
# The overrides in force at %s: permanent ones first, so a temporary one lies over them.
_CURRENT_SQL = """
SELECT patient_id, rule_id, params, reason, set_by, set_by_name, set_at, ends_at
FROM thresholds
WHERE patient_id = ANY(%s) AND superseded_at IS NULL AND (ends_at IS NULL OR ends_at > %s)
ORDER BY patient_id, rule_id, ends_at IS NOT NULL, id
"""
_HISTORY_SQL = """
SELECT id, rule_id, params, reason, set_by, set_by_name, set_at, ends_at, superseded_at
FROM thresholds WHERE patient_id = %s ORDER BY set_at DESC, id DESC
"""
# A temporary threshold lasts at most this long: care plans are reviewed at least quarterly,
# and a change meant for longer is a permanent one.
TEMPORARY_MAX = timedelta(days=90)


@dataclass(frozen=True)
class Subject:
    """A patient as the rules see them: team, conditions, care plan and effective parameters."""

    id: int
    display_id: str
    team_id: int
    team_code: str
    conditions: frozenset[str]
    care_plan: Mapping[str, Any]
    on_home_oxygen: bool
    status: str
    paused_until: datetime | None
    enrolled_at: datetime
    spo2_scale: int = 1
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @functools.cached_property
    def overrides_key(self) -> Hashable:
        """The patient's parameters as a key: patients with the same ones share what follows
        from them (`Catalogue.memo`)."""
        return tuple(sorted((rule_id, tuple(sorted((k, repr(v)) for k, v in params.items())))
                            for rule_id, params in self.overrides.items()))

    def params(self, rule: Rule) -> dict[str, Any]:
        """The rule's effective parameters: the catalogue's defaults, then this patient's."""
        return effective_params(rule, self.overrides)

    def applies(self, rule: Rule) -> bool:
        """True when the rule applies to this patient (conditions, SpO2 scale, home oxygen)."""
        if not rule.applies_to(self.conditions):
            return False
        if rule.scale is not None and rule.scale != self.spo2_scale:
            return False
        return not rule.oxygen or self.on_home_oxygen

    @property
    def dry_weight_kg(self) -> float | None:
        """The clinician-set dry weight, if any."""
        value = self.overrides.get("weight-above-dry", {}).get("dry_weight_kg")
        return float(value) if value else None


def current_overrides(conn: psycopg.Connection, patient_ids: Iterable[int],
                      now: datetime | None = None) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """The override rows in force at `now` (default: the service clock) by patient and rule,
    the permanent one first, then any temporary one."""
    cur = conn.cursor(row_factory=dict_row)
    out: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for row in cur.execute(_CURRENT_SQL, (sorted(set(patient_ids)), now or clock.now())):
        out.setdefault(row["patient_id"], {}).setdefault(row["rule_id"], []).append(dict(row))
    return out


def effective_params(rule: Rule, overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A rule's effective parameters for a patient whose overrides in force are `overrides`:
    the catalogue's defaults, then the patient's."""
    return {**rule.params, **overrides.get(rule.id, {})}


@dataclass(frozen=True)
class Parameters:
    """Patients' effective rule parameters without the rest of their record: what a pass
    over the caseload needs for every patient, the full `Subject` only for the few it acts on."""

    overrides: Mapping[int, Mapping[str, Mapping[str, Any]]]

    def of(self, patient_id: int, rule: Rule) -> dict[str, Any]:
        """The rule's effective parameters for the patient (as `Subject.params`)."""
        return effective_params(rule, self.overrides.get(patient_id, {}))


def load_parameters(conn: psycopg.Connection, patient_ids: Iterable[int],
                    now: datetime | None = None) -> Parameters:
    """The overrides in force at `now` (default: the service clock) of these patients."""
    return Parameters({pid: {rule: _merged(rows) for rule, rows in by_rule.items()}
                       for pid, by_rule in current_overrides(conn, patient_ids, now).items()})


def _merged(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The parameters of a rule's rows in force: a temporary override's over the permanent."""
    merged: dict[str, Any] = {}
    for row in rows:
        merged.update(row["params"])
    return merged


def load_subjects(conn: psycopg.Connection, patient_ids: Iterable[int],
                  now: datetime | None = None) -> dict[int, Subject]:
    """The patients with the overrides in force at `now` (default: the service clock), in two
    queries whatever the number."""
    ids = sorted(set(patient_ids))
    cur = conn.cursor(row_factory=dict_row)
    overrides = load_parameters(conn, ids, now).overrides
    out = {}
    for row in cur.execute(_PATIENTS_SQL, (ids,)).fetchall():
        own = overrides.get(row["id"], {})
        out[row["id"]] = Subject(
            id=row["id"], display_id=row["display_id"], team_id=row["team_id"],
            team_code=row["team_code"], conditions=frozenset(row["conditions"]),
            care_plan=row["care_plan"] or {}, on_home_oxygen=row["on_home_oxygen"],
            status=row["status"], paused_until=row["paused_until"],
            enrolled_at=row["enrolled_at"],
            spo2_scale=int(own.get(SPO2_SCALE_RULE, {}).get("scale", 1)), overrides=own,
        )
    return out


def _subject(conn: psycopg.Connection, patient_id: int) -> Subject:
    subject = load_subjects(conn, [patient_id]).get(patient_id)
    if subject is None:
        raise NotFoundError(f"No patient with id {patient_id}.")
    return subject


def thresholds_for_patient(conn: psycopg.Connection, patient_id: int) -> list[dict[str, Any]]:
    """Every rule that applies to the patient: defaults, override (who/when/why), effective."""
    now = clock.now()
    subject = load_subjects(conn, [patient_id], now).get(patient_id)
    if subject is None:
        raise NotFoundError(f"No patient with id {patient_id}.")
    current = {rule: _in_force(rows) for rule, rows
               in current_overrides(conn, [patient_id], now).get(patient_id, {}).items()}
    out = []
    scale = current.get(SPO2_SCALE_RULE)
    out.append({
        "id": SPO2_SCALE_RULE, "episode": "spo2-low", "severity": None, "applies": True,
        "default": {"scale": 1}, "individual": dict(scale["params"]) if scale else None,
        "effective": {"scale": subject.spo2_scale}, **_who(scale),
        "units": {"scale": None}, "entry": {"scale": {"value": subject.spo2_scale, "unit": None}},
        "shown": {"default": "scale 1",
                  "individual": f"scale {scale['params'].get('scale')}" if scale else None,
                  "effective": f"scale {subject.spo2_scale}"},
    })
    for rule in load_catalogue().rules:
        row = current.get(rule.id)
        out.append({
            "id": rule.id, "episode": rule.episode, "severity": rule.severity,
            "applies": subject.applies(rule), "default": dict(rule.params),
            "individual": dict(row["params"]) if row else None,
            "effective": subject.params(rule), **_who(row),
            **_with_units(rule, row, subject.params(rule)),
        })
    return out


def _with_units(rule: Rule, row: Mapping[str, Any] | None, effective: Mapping[str, Any]
                ) -> dict[str, Any]:
    """Each parameter's unit, the parameters in words with their units, and the effective
    values as staff enter them (glucose in mmol/L)."""
    units = {name: (u.unit.value if (u := param_unit(rule, name)).unit else None)
             for name in rule.params}
    entry = {}
    for name, value in effective.items():
        shown, unit = entry_value(rule, name, value)
        entry[name] = {"value": shown, "unit": unit}
    return {"units": units, "entry": entry,
            "shown": {"default": params_text(rule, rule.params),
                      "individual": params_text(rule, row["params"]) if row else None,
                      "effective": params_text(rule, effective)}}


def _in_force(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One rule's override as in force: the merged parameters, who set the newest part, and
    the end of its temporary part (`ends_at`, None when permanent), with what lies beneath."""
    newest = rows[-1]
    permanent = next((r for r in rows if r["ends_at"] is None), None)
    return {**newest, "params": _merged(rows),
            "permanent": dict(permanent["params"]) if permanent else None}


def _who(row: Mapping[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"set_by": None, "set_by_name": None, "set_at": None, "reason": None,
                "ends_at": None, "permanent": None}
    return {"set_by": row["set_by"], "set_by_name": row["set_by_name"],
            "set_at": row["set_at"], "reason": row["reason"], "ends_at": row.get("ends_at"),
            "permanent": row.get("permanent") if row.get("ends_at") else None}


def threshold_history(conn: psycopg.Connection, patient_id: int) -> list[dict[str, Any]]:
    """Every override ever set for the patient, newest first: who, why, when, until when, and
    whether it is in force, ended (a temporary one past its end) or superseded."""
    _subject(conn, patient_id)
    now = clock.now()
    out = []
    for row in conn.cursor(row_factory=dict_row).execute(_HISTORY_SQL, (patient_id,)):
        gone = row["superseded_at"] or now
        state = ("ended" if row["ends_at"] is not None and row["ends_at"] <= gone else
                 "superseded" if row["superseded_at"] is not None else "in-force")
        out.append({**row, "state": state})
    return out


def temporary_end(until: date | datetime, now: datetime, zone: ZoneInfo) -> datetime:
    """When a temporary threshold set `until` a day or a time ends: a day means through that
    whole local day (it ends at the next midnight); a time is an instant. It ends after now
    and within TEMPORARY_MAX (ValidationError otherwise)."""
    if isinstance(until, datetime):
        if until.tzinfo is None or until.utcoffset() is None:
            raise ValidationError("bad-until", "Give the end of a temporary threshold with its "
                                  "time zone, or as a day.")
        end = clock.as_utc(until)
    else:
        end = clock.day_start(until + timedelta(days=1), zone)
    if end <= now:
        raise ValidationError("bad-until", "A temporary threshold ends in the future.")
    if end - now > TEMPORARY_MAX:
        raise ValidationError("bad-until", f"A temporary threshold lasts at most "
                              f"{TEMPORARY_MAX.days} days; for longer, set a permanent one.")
    return end


def validate_params(catalogue: Catalogue, rule_id: str, params: Mapping[str, Any]
                    ) -> dict[str, Any]:
    """Checked parameters for `rule_id` in the unit the rule compares in (ValidationError on
    an unknown rule or param, a glucose value without its unit, an implausible value)."""
    rule = catalogue.get(rule_id)
    if rule is None:
        raise ValidationError("unknown-rule", f"There is no rule '{rule_id}' "
                              "(see `telehub thresholds show`).")
    if not params:
        raise ValidationError("bad-threshold", "Give at least one parameter (name=value).")
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name not in rule.params:
            known = ", ".join(sorted(rule.params)) or "none"
            raise ValidationError("unknown-param", f"Rule '{rule_id}' has no parameter "
                                  f"'{name}' (parameters: {known}).")
        out[name] = threshold_value(rule, name, value)
    return out


def _check_reason(reason: str) -> str:
    text = (reason or "").strip()
    if len(text) < 3:
        raise ValidationError("reason-required", "Say why the threshold changes "
                              "(a reason of at least 3 characters).")
    if len(text) > 1000:
        raise ValidationError("reason-too-long", "A reason is at most 1000 characters.")
    return text


def _store(conn: psycopg.Connection, patient_id: int, rule_id: str, params: Mapping[str, Any],
           reason: str, set_by_name: str, set_by: int | None,
           ends_at: datetime | None = None) -> dict[str, Any]:
    _subject(conn, patient_id)
    if not (set_by_name or "").strip():
        raise ValidationError("who-required", "Say who sets the threshold.")
    now = clock.now()
    cur = conn.cursor(row_factory=dict_row)
    # Permanent: replaces the permanent row and ends any temporary one. Temporary: replaces
    # the last temporary row, adding to its parameters while it is still in force.
    # (A temporary row superseded after its end still reads "ended" in the history.)
    previous = cur.execute(
        "UPDATE thresholds SET superseded_at = %s WHERE patient_id = %s AND rule_id = %s "
        "AND superseded_at IS NULL AND (%s OR ends_at IS NOT NULL) RETURNING params, ends_at",
        (now, patient_id, rule_id, ends_at is None)).fetchall()
    kept = [r for r in previous if (r["ends_at"] is None) == (ends_at is None)
            and (r["ends_at"] is None or r["ends_at"] > now)]
    merged = {**(dict(kept[0]["params"]) if kept else {}), **params}
    row = cur.execute(
        "INSERT INTO thresholds (patient_id, rule_id, params, reason, set_by, set_by_name, "
        "set_at, ends_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id, patient_id, "
        "rule_id, params, reason, set_by, set_by_name, set_at, ends_at",
        (patient_id, rule_id, Jsonb(merged), _check_reason(reason), set_by, set_by_name.strip(),
         now, ends_at),
    ).fetchone()
    assert row is not None
    return dict(row)


def set_threshold(conn: psycopg.Connection, patient_id: int, rule_id: str,
                  params: dict[str, Any], reason: str, set_by_name: str,
                  set_by: int | None = None, ends_at: datetime | None = None
                  ) -> dict[str, Any]:
    """Override parameters of one rule for one patient, until `ends_at` when given (see the
    module docstring); earlier overrides stay as history."""
    if rule_id == SPO2_SCALE_RULE:
        if set(params) != {"scale"}:
            raise ValidationError("unknown-param", "The SpO2 scale takes one parameter: scale.")
        scale = params["scale"]
        if isinstance(scale, Mapping):      # {"value": 2, "unit": None} from a form
            scale = scale.get("value")
        return set_spo2_scale(conn, patient_id, scale, reason, set_by_name, set_by, ends_at)
    checked = validate_params(load_catalogue(), rule_id, params)
    return _store(conn, patient_id, rule_id, checked, reason, set_by_name, set_by, ends_at)


def set_spo2_scale(conn: psycopg.Connection, patient_id: int, scale: int, reason: str,
                   set_by_name: str, set_by: int | None = None,
                   ends_at: datetime | None = None) -> dict[str, Any]:
    """Put a patient on NEWS2 SpO2 scale 1 or 2 (scale 2 is never inferred)."""
    try:
        number = int(str(scale).strip())
    except ValueError as err:
        raise ValidationError("bad-scale", "The NEWS2 SpO2 scale is 1 or 2.") from err
    if number not in (1, 2):
        raise ValidationError("bad-scale", "The NEWS2 SpO2 scale is 1 or 2.")
    return _store(conn, patient_id, SPO2_SCALE_RULE, {"scale": number}, reason, set_by_name,
                  set_by, ends_at)
