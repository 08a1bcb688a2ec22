"""The rules of a watch period: who may watch an alert, for how long, what re-raises it while
watched, and what is reported when it ends. Pure functions over an alert's row.

A nurse who has reviewed (acknowledged) an alert may watch it until a time, with a reason:
the alert stays acknowledged, so it neither escalates nor reminds, and repeats of the same
reading are counted without notifying anyone. A worse reading re-raises it at once (see
`re_raise_reason`); at the end of the watch it returns to the inbox as open, with what
happened meanwhile (occurrences, the worst reading) in its `watch-ended` event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from telehub.domain.codes import AlertStatus, severity_rank
from telehub.errors import ValidationError

# The longest watch: two weeks covers "after this exacerbation settles" and the next planned
# review; longer than that the alert should be resolved and a threshold changed instead.
WATCH_MAX = timedelta(days=14)
# The shortest watch worth the name: less than this is not a decision to wait and see.
WATCH_MIN = timedelta(minutes=15)
REASON_MIN, REASON_MAX = 3, 1000

HIGHER_SEVERITY = "higher-severity"
NEW_RULE = "new-rule"


def watching(alert: Mapping[str, Any]) -> bool:
    """True while the alert is under a watch (until its end is processed or it re-raises)."""
    return alert.get("watch_until") is not None


def watchable(alert: Mapping[str, Any]) -> str | None:
    """Why the alert cannot be watched as it stands, or None: only an alert someone has
    reviewed (acknowledged). (Never a telecare call either: alerts.lifecycle.watch.)"""
    if alert["status"] == AlertStatus.RESOLVED:
        return f"Alert {alert['id']} is already resolved; it cannot be watched."
    if alert["status"] != AlertStatus.ACKNOWLEDGED:
        return (f"Acknowledge alert {alert['id']} first: only an alert someone has reviewed "
                "can be watched.")
    return None


def check_watch(until: datetime, reason: str | None, now: datetime) -> tuple[datetime, str]:
    """The watch's end and reason, checked: ending between WATCH_MIN and WATCH_MAX from now,
    with a reason (which alerts may be watched is `watchable`)."""
    if until.tzinfo is None or until.utcoffset() is None:
        raise ValidationError("bad-watch", "Give the end of the watch with its time zone.")
    if until < now + WATCH_MIN:
        raise ValidationError("bad-watch", "A watch ends at least "
                              f"{int(WATCH_MIN.total_seconds() // 60)} minutes from now.")
    if until > now + WATCH_MAX:
        raise ValidationError("bad-watch", f"A watch lasts at most {WATCH_MAX.days} days; "
                              "for longer, resolve the alert and change the patient's threshold.")
    text = (reason or "").strip()
    if not REASON_MIN <= len(text) <= REASON_MAX:
        raise ValidationError("reason-required", "Say why the alert is watched (a reason of "
                              f"{REASON_MIN} to {REASON_MAX} characters).")
    return until, text


def started(alert: Mapping[str, Any]) -> dict[str, Any]:
    """What the watch tracks from its start, kept in the alert's values as "watch": the rules
    already seen in the episode, readings counted since, the worst of them."""
    values = dict(alert.get("values") or {})
    previous = values.get("watch")
    if previous:               # a watch extended keeps what it has counted
        return values
    rules = {str(r) for r in (values.get("rule"), (values.get("worst") or {}).get("rule")) if r}
    values["watch"] = {"rules": sorted(rules), "occurrences": 0, "worst": None,
                       "severity": alert["severity"], "occurrences_before": alert["occurrences"]}
    return values


def re_raise_reason(alert: Mapping[str, Any], rule_id: str, severity: str) -> str | None:
    """Why a new finding re-raises a watched alert: a higher severity, or a rule of the episode
    not seen before at the alert's severity or above; None when it does not (not watched, or
    the same or a milder reading)."""
    if not watching(alert):
        return None
    rank, current = severity_rank(severity), severity_rank(alert["severity"])
    if rank > current:
        return HIGHER_SEVERITY
    seen = set((alert.get("values") or {}).get("watch", {}).get("rules", []))
    if rank == current and rule_id not in seen:
        return NEW_RULE
    return None


def track(watch: Mapping[str, Any], rule_id: str, occurrences: int,
          worst: Mapping[str, Any] | None,
          key: Callable[[Mapping[str, Any]], tuple[int, float]]) -> dict[str, Any]:
    """The watch's count, worst reading (by `key`, the store's "most extreme") and rules seen,
    with one more finding added."""
    old = watch.get("worst")
    if worst and (not old or key(worst) > key(old)):
        old = dict(worst)
    return {**watch, "occurrences": int(watch.get("occurrences", 0)) + occurrences,
            "worst": old, "rules": sorted({*watch.get("rules", []), rule_id})}


def reraise_note(reason: str, before: str, after: str, rule_id: str,
                 done: Mapping[str, Any]) -> str:
    """The re-raised event's note: why, and what happened during the watch."""
    why = (f"severity {before} → {after}" if reason == HIGHER_SEVERITY
           else f"a new rule of the episode ({rule_id})")
    return f"Re-raised during watch: {why}. {summary_text(done)}"


def summary(alert: Mapping[str, Any], watch: Mapping[str, Any] | None, ended_at: datetime,
            how: str) -> dict[str, Any]:
    """What happened during the watch, for the alert's values ("last_watch") and its event:
    `how` is "ended" (its time came), "stopped" (someone ended it) or a re-raise reason."""
    watch = watch or {}
    worst = watch.get("worst") or None
    return {"started_at": _iso(alert.get("watch_started_at")),
            "until": _iso(alert.get("watch_until")), "ended_at": ended_at.isoformat(),
            "reason": alert.get("watch_reason"), "how": how,
            "occurrences": int(watch.get("occurrences", 0)),
            "worst": worst, "severity_at_start": watch.get("severity")}


def summary_text(done: Mapping[str, Any]) -> str:
    """The summary in words: "2 readings breached the rule meanwhile; worst 89 % at …"."""
    n = int(done.get("occurrences", 0))
    text = ("no reading breached the rule meanwhile" if n == 0 else
            f"{n} reading{'s' if n != 1 else ''} breached the rule meanwhile")
    worst = done.get("worst") or {}
    if worst.get("shown"):
        text += f"; worst {worst['shown']}"
    return text[0].upper() + text[1:] + "."


def _iso(at: Any) -> str | None:
    return at.isoformat() if isinstance(at, datetime) else (str(at) if at else None)
