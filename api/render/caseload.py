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
    quote, backslash, \\b \\f \\n \\r \\t, other control characters as \\u00xx); null
    for NULL."""
    return f"COALESCE(to_json(({expr})::text)::text, 'null')"


def json_scalar(expr: str) -> str:
    """An integer or boolean as JSON; null for NULL."""
    return f"COALESCE(({expr})::text, 'null')"


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
    """One patient's caseload row: `CaseloadRow`'s fields up to `named_nurse` as the query
    wrote them (`start`, an object left open), the fields Python computes (`computed`, from
    `age` to `overdue_metrics`), and the rest as the query wrote them (`rest`, from
    `,"last_reading_at":` to the closing brace)."""

    patient_id: int
    start: str
    computed: dict[str, Any]
    rest: str

    def fields(self) -> dict[str, Any]:
        """All of the row's fields as plain values (the query's JSON decoded)."""
        return {**from_json(self.start + "}"), **self.computed,
                **from_json("{" + self.rest[1:])}

    def json(self) -> bytes:
        """The row as `CaseloadRow.model_dump_json` writes it."""
        return b"".join((self.start.encode(), b",", to_json(self.computed)[1:-1],
                         self.rest.encode()))


def caseload_json(team_id: int | None, nurse_id: int | None, now: datetime,
                  rows: list[CaseloadEntry]) -> bytes:
    """`CaseloadOut` as JSON, byte for byte what its `model_dump_json` gives for these rows."""
    envelope = to_json({"team_id": team_id, "nurse_id": nurse_id, "generated_at": now,
                        "total": len(rows), "rows": []})  # ends in b'[]}'
    return b"".join((envelope[:-2], b",".join(row.json() for row in rows), b"]}"))
