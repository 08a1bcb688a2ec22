"""FHIR search parameters read from a request: references, tokens, dates with prefixes, sort,
count and the paging cursor (https://hl7.org/fhir/R4/search.html).

A search names only what Telehub supports: an unknown parameter, prefix or sort key is
refused with a clear error instead of being ignored, so a client never reads an unfiltered
list as a filtered one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from api.render.fhir_ids import ObservationKey, parse_observation_id
from telehub.domain import clock
from telehub.domain.record_ids import record_id
from telehub.domain.units import LOINC_METRICS, LOINC_SYSTEM, SNOMED_SYSTEM, SPECS, Metric
from telehub.errors import ValidationError

# Parameters every search accepts besides its own (FHIR's result parameters). `_total` and
# `_totalMethod` (what some clients send to ask for a count) change nothing: the total is
# always exact.
COMMON = frozenset({"_count", "_format", "_total", "_totalMethod"})
# Date prefixes Telehub answers. `ne` (not equal) and `ap` (approximately) are refused: a
# reading's time is an instant, and "about" a date has no agreed width.
PREFIXES = ("eq", "lt", "le", "gt", "ge", "sa", "eb")
DEFAULT_COUNT = 100
MAX_COUNT = 1000
SNOMED_METRICS = {spec.snomed: metric for metric, spec in SPECS.items()}
_SYSTEM_CODES = {LOINC_SYSTEM: LOINC_METRICS, SNOMED_SYSTEM: SNOMED_METRICS}
_PARTIAL = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def check_parameters(names: list[str], allowed: frozenset[str]) -> None:
    """Refuse any parameter the search does not support."""
    unknown = sorted(set(names) - allowed - COMMON)
    if unknown:
        raise ValidationError("unsupported-parameter",
                              f"Unsupported search parameter(s): {', '.join(unknown)}. "
                              f"Supported: {', '.join(sorted(allowed | COMMON))}.")


def reference_id(text: str, resource: str) -> int:
    """The id in a reference to `resource`: `Patient/12`, `12`, or an absolute URL of it."""
    tail = text.rstrip("/").rsplit("/", 2)
    if len(tail) >= 2 and tail[-2] == resource:
        text = tail[-1]
    elif "/" in text:
        raise ValidationError(f"bad-{resource.lower()}",
                              f"'{text}' is not a reference to a {resource}.")
    found = record_id(text)
    if found is None:
        raise ValidationError(f"bad-{resource.lower()}",
                              f"A {resource} reference is '{resource}/<id>' or '<id>', the id "
                              "in digits 0-9.")
    return found


def code_metrics(values: list[str]) -> tuple[set[Metric], list[str]]:
    """The metrics `code` tokens name (`system|code` or `code`, comma-separated: any of them)
    and, for tokens naming no Telehub metric, a sentence saying so."""
    metrics: set[Metric] = set()
    unknown: list[str] = []
    for raw in values:
        for token in (t.strip() for t in raw.split(",")):
            if not token:
                continue
            system, bar, code = token.rpartition("|")
            tables = [_SYSTEM_CODES[system]] if bar and system in _SYSTEM_CODES else (
                [] if bar and system else list(_SYSTEM_CODES.values()))
            hit = next((t[code] for t in tables if code in t), None)
            if hit is None:
                unknown.append(token)
            else:
                metrics.add(hit)
    return metrics, unknown


def sort_descending(value: str | None) -> bool:
    """True for `_sort=-date` (and by default: newest first), False for `_sort=date`."""
    if value is None or value == "-date":
        return True
    if value == "date":
        return False
    raise ValidationError("unsupported-sort", f"'_sort={value}' is not supported: use 'date' "
                          "(oldest first) or '-date' (newest first).")


def page_size(value: str | None) -> int:
    """`_count`: 0 (the total only) up to MAX_COUNT; a larger count gets MAX_COUNT."""
    if value is None:
        return DEFAULT_COUNT
    count = record_id(value) if value != "0" else 0
    if count is None:
        raise ValidationError("bad-count", "'_count' must be a whole number of 0 or more.")
    return min(count, MAX_COUNT)


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after (next) or before (previous) the reading an id names."""

    key: ObservationKey
    before: bool


def parse_cursor(value: str | None) -> Cursor | None:
    """`_cursor=after.<Observation id>` or `before.<Observation id>`, as paging links give."""
    if value is None:
        return None
    direction, _, text = value.partition(".")
    key = parse_observation_id(text)
    if direction not in ("after", "before") or key is None:
        raise ValidationError("bad-cursor", "'_cursor' is not one this server gave; follow the "
                              "Bundle's next/previous links.")
    return Cursor(key, direction == "before")


def date_bounds(values: list[str], zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """[start, end) from FHIR date search values, e.g. `ge2026-03-01`, `lt2026-03-02T10:00Z`.

    A value without an offset (a date, a year, a month, or a local time) is read in the
    service's time zone, as a nurse means "2 March"; several values must all hold.
    """
    start: datetime | None = None
    end: datetime | None = None
    for raw in values:
        prefix, text = (raw[:2], raw[2:]) if raw[:2].isalpha() else ("eq", raw)
        if prefix not in PREFIXES:
            raise ValidationError("unsupported-prefix", f"Date prefix '{prefix}' is not "
                                  f"supported; use one of {', '.join(PREFIXES)}.")
        low, high = _span(text, zone)
        lower = {"eq": low, "ge": low, "gt": high, "sa": high}.get(prefix)
        upper = {"eq": high, "le": high, "lt": low, "eb": low}.get(prefix)
        if lower is not None:
            start = max(start, lower) if start else lower
        if upper is not None:
            end = min(end, upper) if end else upper
    return start, end


def _span(text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The span a FHIR date or dateTime denotes: a year, month or day in `zone`, or a
    minute, second or instant (at its own offset, else in `zone`)."""
    partial = _PARTIAL.fullmatch(text)
    try:
        if partial is not None:
            year, month, day = (int(g) if g else None for g in partial.groups())
            first = date(year or 1, month or 1, day or 1)
            _check_span(first)
            if day is not None:
                after = first + timedelta(days=1)
            elif month is not None:
                after = (first + timedelta(days=32)).replace(day=1)
            else:
                after = first.replace(year=first.year + 1)
            return _local(first, zone), _local(after, zone)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError) as err:
        raise ValidationError("bad-date", f"'{text}' is not a FHIR date or dateTime.") from err
    moment = moment if moment.tzinfo else moment.replace(tzinfo=zone)
    _check_span(moment)
    clock_text = re.split(r"[Z+-]", text.partition("T")[2])[0]
    width = (timedelta(minutes=1) if clock_text.count(":") == 1      # hh:mm: a whole minute
             else timedelta(seconds=1) if "." not in clock_text       # hh:mm:ss: a second
             else timedelta(microseconds=1))
    return moment, moment + width


def _local(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def _check_span(at: date | datetime) -> None:
    if not clock.in_service_span(at):
        raise ValidationError("bad-date", f"A date must be {clock.service_span_text()}.")
