"""What is said of a patient the same way on every screen: age in whole years."""

from __future__ import annotations

from datetime import date


def age_on(born: date, day: date) -> int:
    """Whole years from `born` to `day` (a 29 February birthday turns on 1 March)."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
