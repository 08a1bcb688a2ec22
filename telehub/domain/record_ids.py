"""Record ids and digit strings read from text: ASCII 0-9 only, ids bounded to PostgreSQL bigint.

`str.isdigit()` and `int()` accept far more than 0-9 (superscript two passes `isdigit()`
yet `int()` refuses it; Arabic-Indic ١٢٣ is read as 123), so text from outside is checked
here instead of with either of them.
"""

from __future__ import annotations

import re

# The largest value of a PostgreSQL bigint, the type of every id column.
BIGINT_MAX = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]+")
# Digits worth reading: BIGINT_MAX has 19, and int() refuses thousands of digits outright.
_MAX_DIGITS = 20


def is_ascii_digits(text: str) -> bool:
    """True when `text` is one or more of the ASCII digits 0-9 and nothing else."""
    return _ASCII_DIGITS.fullmatch(text) is not None


def record_id(text: str) -> int | None:
    """The id `text` spells (ASCII digits, 1 to BIGINT_MAX), else None."""
    if not is_ascii_digits(text) or len(text) > _MAX_DIGITS:
        return None
    value = int(text)
    return value if 1 <= value <= BIGINT_MAX else None
