"""Ids and NHS numbers read from text take the ASCII digits 0-9 only, ids within bigint."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from telehub.domain.nhs_number import is_valid_nhs_number
from telehub.domain.record_ids import BIGINT_MAX, record_id


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(min_size=1, max_size=25))
@example("\u00b2")
@example("\u0661\u0662\u0663")
@example(str(BIGINT_MAX + 1))
def test_record_ids_are_ascii_digits_within_bigint(text: str) -> None:
    got = record_id(text)
    if all("0" <= ch <= "9" for ch in text) and 1 <= int(text) <= BIGINT_MAX:
        assert got == int(text)
    else:
        assert got is None


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.characters(categories=["Nd"]), min_size=10, max_size=10))
@example("".join(chr(0x0660 + int(d)) for d in "9434765919"))  # a valid one, Arabic-Indic
def test_nhs_numbers_are_ascii_digits_only(digits: str) -> None:
    if not digits.isascii():
        assert not is_valid_nhs_number(digits)
