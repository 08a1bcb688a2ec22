"""The caseload's JSON: PostgreSQL writes each patient's nested lists as JSON text, spelled as
pydantic-core serialises `CaseloadOut` (tests/api/test_caseload_json.py holds the two
equal byte for byte), and Python joins them to the few fields it computes itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import from_json, to_json

# SQL expressions spelling a value as pydantic-core's JSON does, for embedding in a query.


def json_text(expr: str) -> str:
    """A text (or enum) value as a JSON string (PostgreSQL escapes as serde_json does:
    quote, backslash, \\b \\f \\n \\r \\t, other control characters as \\u00xx)."""
    return f"to_json(({expr})::text)::text"


def json_time(expr: str) -> str:
    """A timestamptz as pydantic-core writes a UTC datetime: seconds, then six digits of
    microseconds unless there are none, then Z; null for NULL."""
    return (f"COALESCE('\"' || replace(to_char(({expr}) AT TIME ZONE 'UTC', "
            f"'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || 'Z\"', 'null')")


def json_float(expr: str) -> str:
    """A double as pydantic-core writes a float: the shortest round-trip digits (PostgreSQL's
    with extra_float_digits = 1), ".0" after a whole number. Both use plain decimals for the
    range readings may hold (the readings CHECK keeps values within 0.6-350)."""
    return (f"(({expr})::text || CASE WHEN ({expr}) = trunc({expr}) "
            f"THEN '.0' ELSE '' END)")


@dataclass(frozen=True, slots=True)
class CaseloadEntry:
    """One patient's caseload row: the fields Python computes, in `CaseloadRow`'s order up to
    `overdue_metrics`, and the rest as JSON text from the query."""

    head: dict[str, Any]
    last_reading_at: str
    latest: str
    devices: str
    temporary_thresholds: str

    @property
    def patient_id(self) -> int:
        return int(self.head["patient_id"])

    def fields(self) -> dict[str, Any]:
        """All of the row's fields as plain values (the JSON parts decoded)."""
        return {**self.head, "last_reading_at": from_json(self.last_reading_at),
                "latest": from_json(self.latest), "devices": from_json(self.devices),
                "temporary_thresholds": from_json(self.temporary_thresholds)}

    def json(self) -> bytes:
        """The row as `CaseloadRow.model_dump_json` writes it."""
        return b"".join((to_json(self.head)[:-1], b',"last_reading_at":',
                         self.last_reading_at.encode(), b',"latest":', self.latest.encode(),
                         b',"devices":', self.devices.encode(), b',"temporary_thresholds":',
                         self.temporary_thresholds.encode(), b"}"))


def caseload_json(team_id: int | None, nurse_id: int | None, now: datetime,
                  rows: list[CaseloadEntry]) -> bytes:
    """`CaseloadOut` as JSON, byte for byte what its `model_dump_json` gives for these rows."""
    envelope = to_json({"team_id": team_id, "nurse_id": nurse_id, "generated_at": now,
                        "total": len(rows), "rows": []})  # ends in b'[]}'
    return b"".join((envelope[:-2], b",".join(row.json() for row in rows), b"]}"))
