"""Individual thresholds: a clinician's per-patient overrides of the catalogue's parameters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts.catalogue import Catalogue, Rule, load_catalogue
from alerts.threshold_values import entry_value, param_unit, params_text, threshold_value
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
_CURRENT_SQL = """
SELECT patient_id, rule_id, params, reason, set_by, set_by_name, set_at
FROM thresholds WHERE patient_id = ANY(%s) AND superseded_at IS NULL
"""


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

    def params(self, rule: Rule) -> dict[str, Any]:
        """The rule's effective parameters: the catalogue's defaults, then this patient's."""
        return {**rule.params, **self.overrides.get(rule.id, {})}

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


def load_subjects(conn: psycopg.Connection, patient_ids: Iterable[int]) -> dict[int, Subject]:
    """The patients with their current overrides (two queries, whatever the number)."""
    ids = sorted(set(patient_ids))
    cur = conn.cursor(row_factory=dict_row)
    overrides: dict[int, dict[str, dict[str, Any]]] = {}
    for row in cur.execute(_CURRENT_SQL, (ids,)).fetchall():
        overrides.setdefault(row["patient_id"], {})[row["rule_id"]] = dict(row["params"])
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
    subject = _subject(conn, patient_id)
    cur = conn.cursor(row_factory=dict_row)
    current = {r["rule_id"]: r for r in cur.execute(_CURRENT_SQL, ([patient_id],)).fetchall()}
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


def _who(row: Mapping[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"set_by": None, "set_by_name": None, "set_at": None, "reason": None}
    return {"set_by": row["set_by"], "set_by_name": row["set_by_name"],
            "set_at": row["set_at"], "reason": row["reason"]}


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
           reason: str, set_by_name: str, set_by: int | None) -> dict[str, Any]:
    _subject(conn, patient_id)
    if not (set_by_name or "").strip():
        raise ValidationError("who-required", "Say who sets the threshold.")
    cur = conn.cursor(row_factory=dict_row)
    previous = cur.execute(
        "UPDATE thresholds SET superseded_at = now() WHERE patient_id = %s AND rule_id = %s "
        "AND superseded_at IS NULL RETURNING params", (patient_id, rule_id)).fetchone()
    merged = {**(dict(previous["params"]) if previous else {}), **params}
    row = cur.execute(
        "INSERT INTO thresholds (patient_id, rule_id, params, reason, set_by, set_by_name) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, patient_id, rule_id, params, reason, "
        "set_by, set_by_name, set_at",
        (patient_id, rule_id, Jsonb(merged), _check_reason(reason), set_by, set_by_name.strip()),
    ).fetchone()
    assert row is not None
    return dict(row)


def set_threshold(conn: psycopg.Connection, patient_id: int, rule_id: str,
                  params: dict[str, Any], reason: str, set_by_name: str,
                  set_by: int | None = None) -> dict[str, Any]:
    """Override parameters of one rule for one patient; earlier overrides stay as history."""
    if rule_id == SPO2_SCALE_RULE:
        if set(params) != {"scale"}:
            raise ValidationError("unknown-param", "The SpO2 scale takes one parameter: scale.")
        scale = params["scale"]
        if isinstance(scale, Mapping):      # {"value": 2, "unit": None} from a form
            scale = scale.get("value")
        return set_spo2_scale(conn, patient_id, scale, reason, set_by_name, set_by)
    checked = validate_params(load_catalogue(), rule_id, params)
    return _store(conn, patient_id, rule_id, checked, reason, set_by_name, set_by)


def set_spo2_scale(conn: psycopg.Connection, patient_id: int, scale: int, reason: str,
                   set_by_name: str, set_by: int | None = None) -> dict[str, Any]:
    """Put a patient on NEWS2 SpO2 scale 1 or 2 (scale 2 is never inferred)."""
    try:
        number = int(str(scale).strip())
    except ValueError as err:
        raise ValidationError("bad-scale", "The NEWS2 SpO2 scale is 1 or 2.") from err
    if number not in (1, 2):
        raise ValidationError("bad-scale", "The NEWS2 SpO2 scale is 1 or 2.")
    return _store(conn, patient_id, SPO2_SCALE_RULE, {"scale": number}, reason, set_by_name,
                  set_by)
