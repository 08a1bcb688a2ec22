"""CSV exports: a text cell that could start a spreadsheet formula is written as text; numbers
(negative ones too) stay numbers."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

from telehub.care.csv_rows import export_cell, write_csv


def test_formula_starts_are_neutralised_and_negative_numbers_stay_numbers() -> None:
    text = write_csv(("name", "change", "score", "when"), [
        {"name": "=1+1", "change": -3.5, "score": -2, "when": date(2026, 10, 21)},
        {"name": "-3.5", "change": Decimal("-0.25"), "score": 0, "when": None},
        {"name": "Ann Able", "change": 1.5, "score": 7, "when": None}])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["name", "change", "score", "when"],
                    ["'=1+1", "-3.5", "-2", "2026-10-21"],
                    ["'-3.5", "-0.25", "0", ""],
                    ["Ann Able", "1.5", "7", ""]]
    for start in ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20"):
        assert export_cell(f"{start}cmd") == f"'{start}cmd"
    assert export_cell("O'Neil = ok") == "O'Neil = ok"
