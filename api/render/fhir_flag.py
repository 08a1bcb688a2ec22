"""FHIR R4 Flag for a Telehub alert: the rule's sentence, its severity, the Observations that
raised it.

Why Flag and not DetectedIssue: an alert is a warning on the patient's record that whoever
cares for them should heed until it is dealt with ("SpO2 89 % at 08:10 is at or below 91 %…"),
which is what Flag is for, and its lifecycle is Flag's: active while open or acknowledged,
inactive once resolved. DetectedIssue is for an issue with a proposed or ongoing clinical
action (a drug interaction, a duplicate order) and its status tracks the assessment
(preliminary, final, amended), not whether the warning still stands. Flag has no severity
or evidence element, so both travel in the core extensions made for them: `flag-priority`
(PH red, PM amber, PL info; the Telehub severity as a second coding) and one `flag-detail`
reference per Observation that raised the alert (or per alert, for a combined review).
"""

from __future__ import annotations

from typing import Any

from telehub.domain.codes import Severity

FLAG_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/flag-category"
PRIORITY_URL = "http://hl7.org/fhir/StructureDefinition/flag-priority"
PRIORITY_SYSTEM = "http://hl7.org/fhir/flag-priority-code"
DETAIL_URL = "http://hl7.org/fhir/StructureDefinition/flag-detail"
RULE_SYSTEM = "urn:telehub:rule"
SEVERITY_SYSTEM = "urn:telehub:severity"
ALERT_SYSTEM = "urn:telehub:alert"
PRIORITIES = {Severity.RED: ("PH", "High priority"), Severity.AMBER: ("PM", "Medium priority"),
              Severity.INFO: ("PL", "Low priority")}


def flag(row: dict[str, Any], episode_label: str, evidence: list[str]) -> dict[str, Any]:
    """A Flag for an `alerts` row; `evidence` are references ("Observation/…", "Flag/…")."""
    priority, words = PRIORITIES[Severity(row["severity"])]
    rule = (row.get("values") or {}).get("rule") or row["rule_id"]
    period: dict[str, Any] = {"start": row["first_breach_at"].isoformat()}
    if row.get("resolved_at") is not None:
        period["end"] = row["resolved_at"].isoformat()
    return {
        "resourceType": "Flag",
        "id": str(row["id"]),
        "meta": {"lastUpdated": row["updated_at"].isoformat()},
        "extension": [{"url": PRIORITY_URL, "valueCodeableConcept": {"coding": [
            {"system": PRIORITY_SYSTEM, "code": priority, "display": words},
            {"system": SEVERITY_SYSTEM, "code": row["severity"]}],
            "text": f"{row['severity']} alert"}}]
        + [{"url": DETAIL_URL, "valueReference": {"reference": ref}} for ref in evidence],
        "identifier": [{"system": ALERT_SYSTEM, "value": str(row["id"])}],
        "status": "inactive" if row["status"] == "resolved" else "active",
        "category": [{"coding": [{"system": FLAG_CATEGORY_SYSTEM, "code": "clinical",
                                  "display": "Clinical"}]}],
        "code": {"coding": [{"system": RULE_SYSTEM, "code": rule, "display": episode_label}],
                 "text": row["message"]},
        "subject": {"reference": f"Patient/{row['patient_id']}"},
        "period": period,
    }
