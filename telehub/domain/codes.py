"""Telehub's code lists, each once: staff roles, severities, alert statuses and outcomes,
patient statuses, conditions, device kinds, hospital episodes and reading flags.

Each list is a StrEnum whose values are the database enum's (migrations) or the
API's; the words a person reads are beside it. Nothing else spells these lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """What a member of staff may do."""

    ADMIN = "admin"
    MATRON = "matron"
    NURSE = "nurse"
    RESPONDER = "responder"
    MANAGER = "manager"


# Roles that belong to one team and look after its caseload.
CLINICAL_ROLES = frozenset({Role.MATRON, Role.NURSE})


class Severity(StrEnum):
    """How urgent an alert is: red now, amber same day, info on the dashboard only."""

    INFO = "info"
    AMBER = "amber"
    RED = "red"


SEVERITIES: tuple[Severity, ...] = (Severity.INFO, Severity.AMBER, Severity.RED)


def severity_rank(severity: str) -> int:
    """0 for info, 1 for amber, 2 for red: higher is more urgent."""
    return SEVERITIES.index(Severity(severity))


class AlertStatus(StrEnum):
    """Where an alert is in its lifecycle."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Outcome(StrEnum):
    """What was done about an alert (the `alert_outcome` enum), in the order a nurse picks."""

    ADVICE_GIVEN = "advice-given"
    MEDICATION_CHANGED = "medication-changed"
    VISIT_ARRANGED = "visit-arranged"
    REFERRED_TO_GP = "referred-to-gp"
    ADMITTED = "admitted"
    FALSE_ALARM = "false-alarm"
    MEASUREMENT_ERROR = "measurement-error"
    NO_ACTION_NEEDED = "no-action-needed"
    CONDITION_CLEARED = "condition-cleared"


OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)
OUTCOME_LABELS = {Outcome.ADVICE_GIVEN.value: "advice given",
                  Outcome.MEDICATION_CHANGED.value: "medication changed",
                  Outcome.VISIT_ARRANGED.value: "visit arranged",
                  Outcome.REFERRED_TO_GP.value: "referred to GP",
                  Outcome.ADMITTED.value: "admitted",
                  Outcome.FALSE_ALARM.value: "false alarm",
                  Outcome.MEASUREMENT_ERROR.value: "measurement error",
                  Outcome.NO_ACTION_NEEDED.value: "no action needed",
                  Outcome.CONDITION_CLEARED.value: "condition cleared"}
# What a resolved alert led to, for rule performance and alert burden: an action by the team
# (advice, medication changed, visit, referral, admission), or noise (nothing clinical to do).
# A condition that cleared by itself before anyone looked is neither.
ACTION_OUTCOMES = frozenset({Outcome.ADVICE_GIVEN.value, Outcome.MEDICATION_CHANGED.value,
                             Outcome.VISIT_ARRANGED.value, Outcome.REFERRED_TO_GP.value,
                             Outcome.ADMITTED.value})
NOISE_OUTCOMES = frozenset({Outcome.FALSE_ALARM.value, Outcome.MEASUREMENT_ERROR.value,
                            Outcome.NO_ACTION_NEEDED.value})


def outcome_class(outcome: str | None) -> str | None:
    """'action', 'noise' or None (unresolved, or a condition that cleared by itself)."""
    if outcome in ACTION_OUTCOMES:
        return "action"
    if outcome in NOISE_OUTCOMES:
        return "noise"
    return None


class ResponderAction(StrEnum):
    """What a responder records against an urgent alert (each also a kind of alert event)."""

    ACKNOWLEDGE = "acknowledge"
    CALL_LOGGED = "call-logged"
    CARER_CONTACTED = "carer-contacted"
    VISIT_DISPATCHED = "visit-dispatched"
    AMBULANCE_CALLED = "ambulance-called"
    ESCALATED_TO_MATRON = "escalated-to-matron"
    RESOLVED = "resolved"


class PatientStatus(StrEnum):
    """Whether a patient is being monitored now."""

    ACTIVE = "active"
    PAUSED = "paused"
    IN_HOSPITAL = "in-hospital"
    DISCHARGED = "discharged"


class Condition(StrEnum):
    """The long-term conditions Telehub monitors; they choose which rules apply."""

    HEART_FAILURE = "heart-failure"
    COPD = "copd"
    DIABETES = "diabetes"
    TYPE1_DIABETES = "type1-diabetes"
    TYPE2_DIABETES = "type2-diabetes"
    HYPERTENSION = "hypertension"


CONDITIONS: tuple[str, ...] = tuple(c.value for c in Condition)
CONDITION_LABELS = {Condition.HEART_FAILURE.value: "heart failure", Condition.COPD.value: "COPD",
                    Condition.DIABETES.value: "diabetes",
                    Condition.TYPE1_DIABETES.value: "type 1 diabetes",
                    Condition.TYPE2_DIABETES.value: "type 2 diabetes",
                    Condition.HYPERTENSION.value: "hypertension"}


class DeviceKind(StrEnum):
    """What a home device measures (telehealth) or watches for (telecare events)."""

    SCALE = "scale"
    OXIMETER = "oximeter"
    GLUCOMETER = "glucometer"
    PENDANT = "pendant"
    FALL_DETECTOR = "fall-detector"
    SMOKE = "smoke"
    HEAT = "heat"
    FLOOD = "flood"
    DOOR = "door"


DEVICE_KINDS: tuple[str, ...] = tuple(k.value for k in DeviceKind)
# Telecare devices publish events (fall, pendant, smoke…) on their events topic, not readings.
TELECARE_KINDS = frozenset({DeviceKind.PENDANT.value, DeviceKind.FALL_DETECTOR.value,
                            DeviceKind.SMOKE.value, DeviceKind.HEAT.value,
                            DeviceKind.FLOOD.value, DeviceKind.DOOR.value})
# Which metrics each kind of device measures.
DEVICE_METRICS: dict[str, tuple[str, ...]] = {
    DeviceKind.SCALE.value: ("weight",),
    DeviceKind.OXIMETER.value: ("spo2", "pulse"),
    DeviceKind.GLUCOMETER.value: ("glucose",),
    **{kind: () for kind in TELECARE_KINDS}}


class EpisodeKind(StrEnum):
    """A hospital episode recorded against a monitored patient."""

    EMERGENCY_ADMISSION = "emergency-admission"
    AE_ATTENDANCE = "ae-attendance"


EPISODE_KINDS: tuple[str, ...] = tuple(k.value for k in EpisodeKind)
EPISODE_LABELS = {EpisodeKind.EMERGENCY_ADMISSION.value: "Emergency admission",
                  EpisodeKind.AE_ATTENDANCE.value: "A&E attendance"}


class ReadingFlag(StrEnum):
    """Flags on a stored reading: set by the device, or by the hub (`verify`)."""

    LOW_QUALITY = "low-quality"   # poor perfusion, motion: the device doubts this reading
    INVALID = "invalid"           # the device says the measurement failed
    HI = "hi"                     # above the meter's range (glucose "HI")
    LO = "lo"                     # below the meter's range (glucose "LO")
    VERIFY = "verify"             # the hub's: outside the device's stated accuracy (SpO2 50–69 %)


# Flags a device may set; anything else it sends is ignored.
DEVICE_FLAGS = frozenset({ReadingFlag.LOW_QUALITY.value, ReadingFlag.INVALID.value,
                          ReadingFlag.HI.value, ReadingFlag.LO.value})
# A reading with any of these is stored and shown but never fires a threshold rule,
# is not counted as a reading received, and three in 24 h prompt "check device use".
LOW_QUALITY_FLAGS = frozenset({ReadingFlag.LOW_QUALITY.value, ReadingFlag.INVALID.value})


def is_low_quality(flags: Iterable[str]) -> bool:
    """Whether the device flagged this reading as unreliable (poor perfusion, motion, invalid)."""
    return not LOW_QUALITY_FLAGS.isdisjoint(flags)


# A default care-plan schedule per condition: readings expected per day, and when.
DEFAULT_SCHEDULES: dict[str, dict[str, dict[str, Any]]] = {
    Condition.HEART_FAILURE.value: {"weight": {"per_day": 1, "window": "morning"}},
    Condition.COPD.value: {"spo2": {"per_day": 2}, "pulse": {"per_day": 2}},
    Condition.DIABETES.value: {"glucose": {"per_day": 2}},
    Condition.TYPE1_DIABETES.value: {"glucose": {"per_day": 4}},
    Condition.TYPE2_DIABETES.value: {"glucose": {"per_day": 2}},
}
