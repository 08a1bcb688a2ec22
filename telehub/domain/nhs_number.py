"""NHS number validation (format and modulus-11 check digit)."""

from __future__ import annotations

import re
from collections.abc import Iterator

_SPACES = re.compile(r"[\s-]")
# 0-9 only: `\d` would also take other scripts' digits, which int() then reads.
_TEN_DIGITS = re.compile(r"[0-9]{10}")
# Weights 10..2 for the first nine digits, as the NHS Data Dictionary defines.
_WEIGHTS = range(10, 1, -1)


def normalise_nhs_number(text: str) -> str:
    """Strip spaces and dashes people type ("943 476 5919")."""
    return _SPACES.sub("", text)


def check_digit(first_nine: str) -> int | None:
    """Modulus-11 check digit for nine digits; None when no valid digit exists (remainder 10)."""
    total = sum(int(d) * w for d, w in zip(first_nine, _WEIGHTS, strict=True))
    digit = 11 - (total % 11)
    if digit == 11:
        return 0
    if digit == 10:
        return None
    return digit


def is_valid_nhs_number(text: str) -> bool:
    """True for ten digits whose last digit is the modulus-11 check digit of the first nine."""
    number = normalise_nhs_number(text)
    if not _TEN_DIGITS.fullmatch(number):
        return False
    return check_digit(number[:9]) == int(number[9])


def format_nhs_number(number: str) -> str:
    """Show an NHS number the way the NHS prints it: 3-3-4."""
    n = normalise_nhs_number(number)
    return f"{n[:3]} {n[3:6]} {n[6:]}"


def synthetic_nhs_numbers(start: int = 0) -> Iterator[str]:
    """Valid NHS numbers from the test range 999 000 0000 – 999 999 9999, in order."""
    for body in range(999_000_000 + start, 1_000_000_000):
        nine = f"{body:09d}"
        digit = check_digit(nine)
        if digit is not None:
            yield f"{nine}{digit}"
