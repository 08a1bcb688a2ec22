"""FHIR search values read as FHIR says: date prefixes and precisions (local days in the
service's zone, clock-change days included), code tokens in LOINC and SNOMED CT, references,
sort and count; and an Observation's interpretation from the rules that fired on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.catalogue import load_catalogue
from api.render.fhir_interpretation import Fired, interpretation
from api.render.fhir_search import (
    MAX_COUNT,
    check_parameters,
    code_metrics,
    date_bounds,
    page_size,
    reference_id,
    sort_descending,
)
from telehub.domain.units import Metric
from telehub.errors import ValidationError

LONDON = ZoneInfo("Europe/London")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(("values", "start", "end"), [
    (["2026-11-26"], utc(2026, 11, 26), utc(2026, 11, 27)),
    (["eq2026-11-26"], utc(2026, 11, 26), utc(2026, 11, 27)),
    # The spring clock change: 29 March is 23 hours long in London.
    (["2026-03-29"], utc(2026, 3, 29), utc(2026, 3, 29, 23)),
    # The autumn one: 25 October is 25 hours long, from 23:00 UTC the day before.
    (["2026-10-25"], utc(2026, 10, 24, 23), utc(2026, 10, 26)),
    (["ge2026-07-01", "lt2026-07-08"], utc(2026, 6, 30, 23), utc(2026, 7, 7, 23)),
    (["gt2026-07-01"], utc(2026, 7, 1, 23), None),
    (["sa2026-07-01"], utc(2026, 7, 1, 23), None),
    (["le2026-07-01"], None, utc(2026, 7, 1, 23)),
    (["eb2026-07-01"], None, utc(2026, 6, 30, 23)),
    (["2026-02"], utc(2026, 2, 1), utc(2026, 3, 1)),
    (["2026"], utc(2026, 1, 1), utc(2027, 1, 1)),
    (["ge2026-11-26T08:00Z"], utc(2026, 11, 26, 8), None),
    (["2026-11-26T08:00Z"], utc(2026, 11, 26, 8), utc(2026, 11, 26, 8, 1)),
    (["2026-11-26T08:00:05+00:00"], utc(2026, 11, 26, 8, 0, 5), utc(2026, 11, 26, 8, 0, 6)),
    (["lt2026-07-01T09:00"], None, utc(2026, 7, 1, 8)),   # no offset: London (BST)
    (["ge2026-03-01", "ge2026-03-05", "le2026-03-09", "lt2026-03-07"],
     utc(2026, 3, 5), utc(2026, 3, 7)),
])
def test_date_prefixes_and_precisions(values: list[str], start: datetime | None,
                                      end: datetime | None) -> None:
    assert date_bounds(values, LONDON) == (start, end)


@pytest.mark.parametrize("value", ["ne2026-03-01", "ap2026-03-01", "xx2026-03-01",
                                   "2026-13-01", "26-03-01", "ge0001-01-01", "le9999-12-31",
                                   "2026-02-30", "yesterday", ""])
def test_refused_date_values(value: str) -> None:
    with pytest.raises(ValidationError):
        date_bounds([value], LONDON)


def test_code_tokens_name_metrics_in_loinc_and_snomed() -> None:
    assert code_metrics(["http://loinc.org|59408-5"]) == ({Metric.SPO2}, [])
    assert code_metrics(["http://snomed.info/sct|27113001,8867-4"]) == (
        {Metric.WEIGHT, Metric.PULSE}, [])
    assert code_metrics(["434912009"]) == ({Metric.GLUCOSE}, [])
    assert code_metrics(["http://snomed.info/sct|8867-4"]) == (set(), [
        "http://snomed.info/sct|8867-4"])       # a LOINC code under the SNOMED system
    assert code_metrics(["http://example.org|27113001", "1234-5"]) == (
        set(), ["http://example.org|27113001", "1234-5"])


def test_references_sort_count_and_parameters() -> None:
    assert reference_id("Patient/12", "Patient") == 12
    assert reference_id("12", "Patient") == 12
    assert reference_id("http://host/fhir/Patient/12", "Patient") == 12
    for bad in ("Device/12", "Patient/12/x", "Patient/", "Patient/-1", "Patient/1.5"):
        with pytest.raises(ValidationError):
            reference_id(bad, "Patient")
    assert sort_descending(None) and sort_descending("-date") and not sort_descending("date")
    with pytest.raises(ValidationError):
        sort_descending("_lastUpdated")
    assert page_size(None) == 100 and page_size("0") == 0
    assert page_size(str(MAX_COUNT * 10)) == MAX_COUNT
    with pytest.raises(ValidationError):
        page_size("-1")
    check_parameters(["patient", "_count", "_total"], frozenset({"patient"}))
    with pytest.raises(ValidationError, match="_elements"):
        check_parameters(["patient", "_elements"], frozenset({"patient"}))


def codes(found: list[dict[str, object]]) -> list[str]:
    return [c["coding"][0]["code"] for c in found]  # type: ignore[index]


def test_interpretation_follows_the_rules_that_fired() -> None:
    cat = load_catalogue()
    assert codes(interpretation(cat, 136, [Fired("pulse-red", "red")])) == ["HH"]
    assert codes(interpretation(cat, 38, [Fired("pulse-red", "red")])) == ["LL"]
    assert codes(interpretation(cat, 112, [Fired("pulse-amber", "amber")])) == ["H"]
    assert codes(interpretation(cat, 89, [Fired("spo2-scale1-red", "red")])) == ["LL"]
    assert codes(interpretation(cat, 93, [Fired("spo2-scale1-amber", "amber")])) == ["L"]
    assert codes(interpretation(cat, 3.1, [Fired("glucose-hypo", "amber")])) == ["L"]
    assert codes(interpretation(cat, 84, [Fired("weight-gain-3d", "amber")])) == ["H"]
    assert codes(interpretation(cat, 76, [Fired("weight-loss-3d", "info")])) == ["L"]
    # A night-time reading the engine raised to red reads critical.
    assert codes(interpretation(cat, 112, [Fired("pulse-amber", "red")])) == ["HH"]
    # Measurement prompts say nothing of the patient; no rule fired: no claim of "normal".
    assert interpretation(cat, 80, [Fired("weight-scale-error", "amber")]) == []
    assert interpretation(cat, 72, []) == []
    assert interpretation(cat, 72, [Fired("no-such-rule", "red")]) == []
    # The meter's own HI flag, and the strongest code first.
    assert codes(interpretation(cat, 33.3, [Fired("glucose-hyper", "amber")], ["hi"])) == [
        "H"]
    both = interpretation(cat, 89, [Fired("spo2-scale1-amber", "amber"),
                                    Fired("spo2-scale1-red", "red")])
    assert codes(both) == ["LL", "L"]
    assert "Low oxygen saturation (red, rule spo2-scale1-red)" in str(both[0]["text"])


def test_a_date_only_search_covers_the_whole_local_day() -> None:
    start, end = date_bounds(["2026-11-26"], LONDON)
    assert start is not None and end is not None and end - start == timedelta(days=1)
