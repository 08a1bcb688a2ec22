"""CSV in and out: imports read row by row, so one bad row never loses the good ones (rows,
cells, problems); exports written so no cell can run as a spreadsheet formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from telehub.domain.nhs_number import is_valid_nhs_number, normalise_nhs_number
from telehub.domain.record_ids import is_ascii_digits

# A CSV import larger than this is refused whole (a risk tool's export for one
# integrated-care system is a few tens of thousands of rows).
IMPORT_MAX_ROWS = 50_000


TEXT_MAX = 1000

# What a spreadsheet reads as the start of a formula (OWASP, CSV injection), with the
# full-width forms some spreadsheets also accept. Such a text cell is written behind an
# apostrophe, which spreadsheets show as text and never evaluate.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


@dataclass(frozen=True)
class RowProblem:
    """One refused CSV row: `row` counts data rows from 1 (the header is row 0)."""

    row: int
    code: str
    message: str


class RowRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def csv_rows(text: str, required: Sequence[str]
          ) -> Iterator[tuple[int, dict[str, str] | RowRefused]]:
    """Data rows keyed by lower-cased header, or the row's error; raises RowRefused (row 0)
    for a missing or bad header."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise RowRefused("empty-file", "The file is empty: expected a header row "
                        f"({','.join(required)}).") from None
    except csv.Error as err:
        raise RowRefused("bad-header", f"The header row is not valid CSV ({err}).") from None
    names = [h.strip().lower().replace(" ", "_") for h in header]
    missing = [c for c in required if c not in names]
    if missing:
        raise RowRefused("bad-header", f"The header lacks {', '.join(missing)} (expected "
                        f"{','.join(required)}).")
    number = 0
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:  # the reader moves past the broken line
            yield number, RowRefused("bad-csv", f"The row is not valid CSV ({err}).")
            continue
        if not any(c.strip() for c in cells):
            continue
        if number > IMPORT_MAX_ROWS:
            raise RowRefused("too-many-rows", f"At most {IMPORT_MAX_ROWS:,} rows per file.")
        if any("\x00" in c for c in cells):
            yield number, RowRefused("bad-characters", "The row contains NUL characters.")
            continue
        yield number, {n: (cells[i].strip() if i < len(cells) else "")
                       for i, n in enumerate(names)}


def cell_nhs(value: str) -> str:
    nhs = normalise_nhs_number(value)
    if not nhs:
        raise RowRefused("missing-nhs-number", "No NHS number.")
    if not is_valid_nhs_number(nhs):
        raise RowRefused("bad-nhs-number", "Not a valid NHS number (ten digits with a "
                        "modulus-11 check digit).")
    return nhs


def cell_date(value: str, column: str, *, required: bool = True) -> date | None:
    if not value:
        if required:
            raise RowRefused(f"missing-{column}", f"No {column}.")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    for sep in ("/", "-", "."):  # dd/mm/yyyy, as UK extracts often write it
        parts = value.split(sep)
        if len(parts) == 3 and len(parts[2]) == 4 and all(is_ascii_digits(p) for p in parts):
            try:
                return date(int(parts[2]), int(parts[1]), int(parts[0]))
            except ValueError:
                break
    raise RowRefused(f"bad-{column}", f"{column} '{value[:40]}' is not a date "
                    "(YYYY-MM-DD or DD/MM/YYYY).")


def cell_text(value: str) -> str | None:
    text = value.strip()
    return text[:TEXT_MAX] if text else None



def export_cell(value: Any) -> Any:
    """A value as a CSV export writes it: a number as itself (a negative one too), None as
    empty, text that could start a formula behind an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def write_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """A CSV file with a header of `columns`, one line per row, every cell `export_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([export_cell(row.get(c)) for c in columns])
    return buffer.getvalue()
