"""Per-patient adherence from the readings the patient page already has."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard.adherence import adherence, per_day
from dashboard.client.patients import Bucket, Reading

END = datetime(2026, 11, 26, 12, tzinfo=UTC)
START = END - timedelta(days=7)


def _r(metric: str, days_ago: float) -> Reading:
    return Reading(time=END - timedelta(days=days_ago), metric=metric, value=50, unit="x")


def test_each_day_counts_at_most_the_plans_readings() -> None:
    plan = {"weight": {"per_day": 1, "window": "morning"}, "spo2": {"per_day": 2}}
    raw = [_r("weight", d) for d in (0.1, 1.1, 1.2, 1.3, 2.1)]  # three on one day count once
    raw += [_r("spo2", 0.1), _r("spo2", 0.2), _r("spo2", 0.3)]  # a third that day does not count
    raw += [_r("pulse", 0.1)]  # not in the plan
    result = adherence(plan, START, END, raw=raw)
    assert result is not None
    assert (result.received, result.expected) == (3 + 2, 21)
    assert round(result.share, 3) == round(5 / 21, 3)


def test_daily_buckets_count_the_same_way() -> None:
    plan = {"glucose": {"per_day": 2}}
    buckets = [Bucket(start=END - timedelta(days=d), metric="glucose", min=5, max=7, mean=6,
                      n=n) for d, n in ((1, 4), (2, 1), (3, 2))]
    result = adherence(plan, START, END, buckets=buckets)
    assert result is not None and (result.received, result.expected) == (5, 14)


def test_no_plan_no_adherence() -> None:
    assert adherence({}, START, END, raw=[_r("spo2", 1)]) is None
    assert per_day({"spo2": {"per_day": "2"}, "weight": {"per_day": 0}, "x": 3}) == {}
