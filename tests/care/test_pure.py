"""Pure pieces without I/O: telecare event decoding, trigger wording, CSV row parsing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ingest.events import decode_event, is_events_topic
from telehub.care.episodes import parse_episode_csv
from telehub.care.plan import describe_trigger
from telehub.care.risk import parse_risk_csv
from telehub.config import IngestSettings
from telehub.errors import ValidationError

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
LIMITS = IngestSettings()


def test_an_event_without_id_is_identified_by_its_time() -> None:
    event = decode_event(b'{"event": "fall", "time": "2026-11-26T08:59:00Z"}', now=NOW,
                         limits=LIMITS)
    assert event.event == "fall" and event.key == "2026-11-26T08:59:00+00:00"
    assert decode_event(b'{"id": 17, "event": "smoke", "time": "2026-11-26T08:59:00+01:00"}',
                        now=NOW, limits=LIMITS).key == "17"


@pytest.mark.parametrize(("payload", "code"), [
    (b"", "empty-payload"), (b"[1]", "not-an-object"), (b"{", "not-json"),
    (b'{"event": "party", "time": "2026-11-26T08:59:00Z"}', "bad-event"),
    (b'{"event": "fall"}', "bad-time"),
    (b'{"event": "fall", "time": "2026-11-26T08:59:00"}', "time-without-zone"),
    (b'{"event": "fall", "time": "2026-11-26T10:59:00Z"}', "time-in-future"),
    (b'{"event": "fall", "time": "2026-11-26T08:59:00Z", "id": ""}', "bad-id"),
    (b'{"event": "fall", "time": "2026-11-26T08:59:00Z", "id": true}', "bad-id"),
    (b'{"event": "fall", "pad": "' + b"x" * 5000 + b'"}', "too-large"),
])
def test_a_bad_event_is_refused_with_its_reason(payload: bytes, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        decode_event(payload, now=NOW, limits=LIMITS)
    assert caught.value.code == code


def test_only_device_event_topics_are_events() -> None:
    root = "telehub/v1"
    assert is_events_topic("telehub/v1/devices/fall-1/events", root)
    assert not is_events_topic("telehub/v1/devices/fall-1/readings", root)
    assert not is_events_topic("telehub/v1/devices/fall-1/events/x", root)


def test_triggers_read_as_the_patient_would_say_them() -> None:
    assert describe_trigger("spo2", "band", {"at_or_below": 91}) == "SpO2 at or below 91 %"
    assert describe_trigger("pulse", "band", {"at_or_below": 40, "at_or_above": 131}) == \
        "Pulse at or below 40 /min or at or above 131 /min"
    # mmol/L first, the unit the source states the limit in after it.
    assert describe_trigger("glucose", "band", {"below": 54}, "mg/dL") == \
        "Blood glucose below 3.0 mmol/L (54 mg/dL)"
    # A count rule says how many times, so it never reads like the band with the same limit.
    assert describe_trigger("glucose", "count", {"below": 4.0, "count": 2, "hours": 168,
                                                 "distinct_days": True}, "mmol/L") == \
        "Blood glucose below 4.0 mmol/L on 2 different days within 7 days"
    assert describe_trigger("weight", "change", {"gain_kg": 2, "days": 3}) == \
        "Weight up 2 kg or more in 3 days"


def test_episode_rows_accept_uk_dates_and_aliases() -> None:
    text = ("nhs_number,kind,started_on,discharged_on\n"
            "9990000026,A&E,03/10/2026,\n"
            "9990000026,admission,2026-10-05,2026-10-09\n"
            "9990000026,admission,2026-10-05,2026-10-01\n")
    good, bad = parse_episode_csv(text, today=date(2026, 11, 26))
    assert [(g.kind, g.started_on, g.discharged_on) for g in good] == [
        ("ae-attendance", date(2026, 10, 3), None),
        ("emergency-admission", date(2026, 10, 5), date(2026, 10, 9))]
    assert [(b.row, b.code) for b in bad] == [(3, "bad-discharged_on")]
    _, bad = parse_risk_csv("", today=date(2026, 11, 26))
    assert [(b.row, b.code) for b in bad] == [(0, "empty-file")]
    tomorrow = date(2026, 11, 26) + timedelta(days=1)
    _, bad = parse_risk_csv(f"nhs_number,score,tier,date\n9990000026,1,low,{tomorrow}\n",
                                 today=date(2026, 11, 26))
    assert [(b.row, b.code) for b in bad] == [(1, "future-date")]
