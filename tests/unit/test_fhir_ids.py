"""An Observation id spells its reading's identity within FHIR's id rules, and reads back."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from api.render.fhir import observation_id
from api.render.fhir_ids import epoch_microseconds, key_hash, parse_observation_id
from telehub.domain.record_ids import BIGINT_MAX
from telehub.domain.units import Metric

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@settings(max_examples=300, deadline=None, database=None)
@given(device_pk=st.integers(1, BIGINT_MAX), metric=st.sampled_from(list(Metric)),
       at=st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31),
                       timezones=st.just(UTC)),
       reading_key=st.text(min_size=1, max_size=128))
@example(device_pk=BIGINT_MAX, metric=Metric.GLUCOSE,
         at=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), reading_key="x" * 128)
def test_observation_ids_are_fhir_ids_that_read_back(device_pk: int, metric: Metric,
                                                     at: datetime, reading_key: str) -> None:
    text = observation_id({"device_pk": device_pk, "metric": metric.value, "time": at,
                           "reading_key": reading_key})
    assert FHIR_ID.fullmatch(text), text
    key = parse_observation_id(text)
    assert key is not None
    assert (key.device_pk, key.metric, key.time, key.key_hash) == (
        device_pk, metric, at, key_hash(reading_key))


def test_two_keys_at_one_instant_have_two_ids() -> None:
    row = {"device_pk": 7, "metric": "spo2", "time": datetime(2026, 3, 1, 8, tzinfo=UTC)}
    assert observation_id({**row, "reading_key": "a"}) != observation_id(
        {**row, "reading_key": "b"})
    assert observation_id({**row, "reading_key": "a"}) == "7.spo2.1772352000000000." + key_hash(
        "a")


@pytest.mark.parametrize("text", [
    "", "0.spo2.1.0123456789", "01.spo2.1.0123456789", f"{BIGINT_MAX + 1}.spo2.1.0123456789",
    "1.temperature.1.0123456789", "1.spo2.999999999999999999.0123456789",
    "1.spo2.01.0123456789", "1.spo2.1.0123456789a", "1.spo2.1.0123456789A",
    "\u0661.spo2.1.0123456789", "1.SPO2.1.0123456789", "1.spo2.-1.0123456789"])
def test_malformed_or_impossible_ids_name_no_reading(text: str) -> None:
    assert parse_observation_id(text) is None


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet="0123456789abcdefgilmnoptuwsx.-", max_size=60))
@example("1.spo2.0.0123456789")
@example("42.weight.1772352000000000.abcdef0123")
def test_an_id_that_parses_is_the_one_id_of_what_it_names(text: str) -> None:
    key = parse_observation_id(text)
    if key is not None:
        assert f"{key.device_pk}.{key.metric.value}.{epoch_microseconds(key.time)}." \
               f"{key.key_hash}" == text
