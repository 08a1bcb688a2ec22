"""FHIR OperationOutcome: how every `/fhir` error, and each refused entry of an upload, is told.

One place builds them so the read and the write side say a failure the same way: an issue's
severity and code from the FHIR value sets, the human sentence in `diagnostics`, and
Telehub's own reason code (the hub's refusal reasons, the API's error codes) as `details`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REASON_SYSTEM = "urn:telehub:reason"

# HTTP status -> FHIR issue-type (http://hl7.org/fhir/issue-type).
ISSUE_TYPES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
               409: "conflict", 410: "deleted", 412: "conflict", 413: "too-costly",
               415: "not-supported", 422: "invalid", 429: "throttled", 500: "exception",
               503: "transient"}


@dataclass(frozen=True)
class Issue:
    """One problem: what went wrong, where, and in which words."""

    diagnostics: str
    code: str = "invalid"              # FHIR issue-type
    severity: str = "error"            # fatal | error | warning | information
    reason: str | None = None          # Telehub reason code, e.g. "implausible-value"
    expression: tuple[str, ...] = ()   # FHIRPath of the offending element


def issue_type(status: int) -> str:
    """The FHIR issue type for an HTTP status."""
    return ISSUE_TYPES.get(status, "processing" if status < 500 else "exception")


def operation_outcome(*issues: Issue) -> dict[str, Any]:
    """An OperationOutcome resource holding `issues` (at least one)."""
    if not issues:
        raise ValueError("an OperationOutcome needs at least one issue")
    return {"resourceType": "OperationOutcome", "issue": [_issue(i) for i in issues]}


def _issue(issue: Issue) -> dict[str, Any]:
    out: dict[str, Any] = {"severity": issue.severity, "code": issue.code,
                           "diagnostics": issue.diagnostics}
    if issue.reason is not None:
        out["details"] = {"coding": [{"system": REASON_SYSTEM, "code": issue.reason}],
                          "text": issue.diagnostics}
    if issue.expression:
        out["expression"] = list(issue.expression)
    return out


def information(text: str) -> dict[str, Any]:
    """An OperationOutcome saying all went well (for an entry that needs one)."""
    return operation_outcome(Issue(text, code="informational", severity="information"))
