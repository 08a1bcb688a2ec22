"""NHS number validation."""

from __future__ import annotations

import itertools

import pytest

from telehub.domain.nhs_number import format_nhs_number, is_valid_nhs_number, synthetic_nhs_numbers


@pytest.mark.parametrize("number", ["9434765919", "943 476 5919", "401-023-2137"])
def test_valid_numbers_pass(number: str) -> None:
    assert is_valid_nhs_number(number)


@pytest.mark.parametrize("number", ["9434765918", "943476591", "94347659190", "abcdefghij", "",
                                    "1000000010"])
def test_wrong_check_digit_or_format_fails(number: str) -> None:
    assert not is_valid_nhs_number(number)


def test_synthetic_numbers_are_valid_and_in_test_range() -> None:
    numbers = list(itertools.islice(synthetic_nhs_numbers(), 200))
    assert len(set(numbers)) == 200
    assert all(n.startswith("999") and is_valid_nhs_number(n) for n in numbers)


def test_format_groups_three_three_four() -> None:
    assert format_nhs_number("9434765919") == "943 476 5919"
