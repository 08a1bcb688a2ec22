"""Free text (a carer's name, a key-safe note, an alert note) shows on the dashboard as the
words that were written: markdown in it never becomes a live link or a remote image."""

from __future__ import annotations

import html
import logging
import re

from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from dashboard.components.text import escape_markdown
from telehub.db.pool import connect
from tests.dashboard.conftest import Seeded, add_staff, no_exceptions, page_text, sign_in

PAYLOAD = "[click](http://evil.example) ![x](http://evil.example/x.png)"
_COMMONMARK = MarkdownIt("commonmark")
logging.getLogger("markdown_it").setLevel(logging.INFO)  # a DEBUG line per parsing rule


def _markdown_sources(at: AppTest) -> list[str]:
    """The markdown of every element Streamlit renders as markdown."""
    return [str(el.value) for group in (at.title, at.header, at.subheader, at.markdown,
                                        at.caption, at.info, at.warning, at.error, at.success)
            for el in group]


def _rendered(source: str) -> str:
    """What a CommonMark renderer makes of `source` (Streamlit's react-markdown is one)."""
    return _COMMONMARK.render(source)


def _visible_text(source: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", _rendered(source)))


def _assert_shown_as_text(at: AppTest, expected_lines: list[str]) -> None:
    sources = _markdown_sources(at)
    for source in sources:
        out = _rendered(source)
        assert "<a " not in out and "<img" not in out, source
        # Bare URLs become links in GFM: none may reach the renderer unescaped.
        assert "http://evil" not in source, source
    shown = "\n".join(_visible_text(s) for s in sources)
    for line in expected_lines:
        assert line in shown


def test_the_escape_keeps_every_character_and_renders_no_markup() -> None:
    tricky = (f"{PAYLOAD} <b>bold</b> **x** `c` :red[red] $x$ &#91; www.evil.example "
              "ann@evil.example TH-000007\n# H\n- l\n1. n\n---")
    out = _rendered(escape_markdown(tricky))
    assert "<a " not in out and "<img" not in out and "<b>" not in out
    assert "<strong>" not in out and "<code>" not in out and "<h1>" not in out
    assert "<li>" not in out and "<ol" not in out and "<hr" not in out and "<h2>" not in out
    # GFM makes bare "www." and e-mail addresses links: neither reaches it unescaped.
    assert "www.evil" not in escape_markdown(tricky) and "n@evil" not in escape_markdown(tricky)
    assert _visible_text(escape_markdown(tricky)).split() == tricky.split()


def test_responder_queue_shows_carer_names_and_notes_as_written(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    with connect(db_url) as conn:
        add_staff(conn, "response.centre", "Telecare Response Centre", "responder")
        conn.execute(
            "INSERT INTO patient_care (patient_id, key_safe_note, access_note, "
            "advance_decision, advance_decision_note, spa_phone) "
            "VALUES (%s, %s, %s, true, %s, '0300 123 4567')",
            (seeded.red_patient, PAYLOAD, PAYLOAD, PAYLOAD))
        conn.execute(
            "INSERT INTO patient_contacts (patient_id, name, relationship, phone, next_of_kin, "
            "notify_alerts) VALUES (%s, %s, 'daughter', '07700 900123', true, true)",
            (seeded.red_patient, PAYLOAD))
    at = sign_in(app_test, "response.centre")
    no_exceptions(at)
    assert at.title[0].value == "Responder queue"
    _assert_shown_as_text(at, [
        f"Key safe {PAYLOAD}",
        f"Access {PAYLOAD}",
        f"Advance decision in place (ReSPECT/DNACPR): {PAYLOAD}",
        f"{PAYLOAD} (daughter, next of kin): 07700 900123",
    ])


def test_an_alert_note_shows_as_written_in_the_alerts_history(
        app_test: AppTest, seeded: Seeded) -> None:
    sign_in(app_test, "nurse.north")
    at = app_test.switch_page("views/alerts.py").run()
    alert = seeded.red_alert
    at.selectbox(key=f"action_{alert}").set_value("Add note").run()
    at.text_input(key=f"note_{alert}").input(PAYLOAD)
    at.button(key=f"save_{alert}").click().run()
    no_exceptions(at)
    at.toggle(key=f"history_{alert}").set_value(True).run()
    no_exceptions(at)
    _assert_shown_as_text(at, [f"note by nurse.north — {PAYLOAD}"])
    assert PAYLOAD in page_text(at)  # what the page shows, as the suite's helper reads it
