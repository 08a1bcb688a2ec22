"""The patient page's care team: the people around the patient (GP, care coordinator, single
point of access, carers), access to the home, advance decisions, consent and enrolment."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard.client import ApiError, reads, session
from dashboard.client.care import CARE_TEAM_FIELDS, CareTeam, Contact
from dashboard.client.patients import Patient
from dashboard.components.changes import can_edit, save_change
from dashboard.components.text import escape_markdown
from telehub.domain import clock


def yes_no(value: bool | None) -> str:
    """'yes', 'no' or 'not recorded'."""
    return "not recorded" if value is None else ("yes" if value else "no")


def consent_text(team: CareTeam) -> str:
    """'Monitoring: yes · sharing: no · recorded 3 Nov 2026 by Grace Okafor'."""
    text = (f"Monitoring: {yes_no(team.consent_monitoring)} · "
            f"sharing: {yes_no(team.consent_sharing)}")
    if team.consent_on or team.consent_taken_by:
        when = team.consent_on.strftime("%d %b %Y") if team.consent_on else "date not recorded"
        by = escape_markdown(team.consent_taken_by or "someone not named")
        text += f" · recorded {when} by {by}"
    return text


def enrolment_text(team: CareTeam) -> str:
    """Why the patient was enrolled, in words."""
    reasons = [word for flag, word in ((team.enrolment_conditions, "long-term conditions"),
                                       (team.enrolment_risk, "risk score"),
                                       (team.enrolment_judgement, "clinical judgement")) if flag]
    text = ", ".join(reasons) or "not recorded"
    return f"{text} — {escape_markdown(team.enrolment_note)}" if team.enrolment_note else text


def _load(patient_id: int) -> tuple[CareTeam | None, list[Contact]]:
    found = session.read_or_warn(
        lambda: (reads.care_team(patient_id), reads.contacts(patient_id)),
        "The care team could not be loaded")
    return found if found is not None else (None, [])


def care_team_section(patient: Patient) -> None:
    """Who looks after the patient, how to get in, advance decisions, consent, carers."""
    team, contacts = _load(patient.id)
    if team is None:
        return
    cols = st.columns(3)
    gp = ", ".join(x for x in (team.gp_name, team.gp_practice, team.gp_phone) if x)
    coordinator = escape_markdown(team.coordinator_name or "not named")
    if team.coordinator_role:
        coordinator += f" ({escape_markdown(team.coordinator_role)})"
    cols[0].markdown(f"**GP** {escape_markdown(gp or 'not recorded')}  \n"
                     f"**Care coordinator** {coordinator}  \n"
                     f"**Single point of access** "
                     f"{escape_markdown(team.spa_phone or 'not recorded')} "
                     "(call instead of 999 when it is not an emergency)")
    kept = escape_markdown(team.advance_decision_note or "where kept not recorded")
    decision = f"⚠️ **in place**: {kept}" if team.advance_decision else "none recorded"
    cols[1].markdown(f"**Key safe** {escape_markdown(team.key_safe_note or 'no note')}  \n"
                     f"**Access** {escape_markdown(team.access_note or 'no note')}  \n"
                     f"**Advance decision (ReSPECT/DNACPR)** {decision}")
    cols[2].markdown(f"**Consent** {consent_text(team)}  \n"
                     f"**Enrolled for** {enrolment_text(team)}")
    _carers(patient, contacts)
    if can_edit():
        with st.expander("Edit the care team, access, advance decision and consent"):
            _care_team_form(patient, team)


def _carers(patient: Patient, contacts: list[Contact]) -> None:
    st.markdown("**Carers and next of kin**")
    current = [c for c in contacts if c.removed_at is None]
    if current:
        st.dataframe(pd.DataFrame([{
            "Name": c.name, "Relationship": c.relationship, "Phone": c.phone or "",
            "Email": c.email or "", "Next of kin": yes_no(c.next_of_kin),
            "Told about alerts": yes_no(c.notify_alerts),
        } for c in current]), hide_index=True, width="stretch", key="carers_table")
    else:
        st.info("No carers or next of kin recorded. Add them below so responders can call.")
    if not can_edit():
        return
    with st.form("carer_add", clear_on_submit=True):
        cols = st.columns([2, 1.5, 1.5, 2])
        name = cols[0].text_input("Carer's name")
        relationship = cols[1].text_input("Relationship", placeholder="e.g. daughter")
        phone = cols[2].text_input("Phone")
        email = cols[3].text_input("Email (optional)")
        kin = st.checkbox("Next of kin")
        notify = st.checkbox("Wants to be told about alerts")
        submitted = st.form_submit_button("Add carer")
    if submitted:
        save_change(lambda: session.api().add_contact(
            patient.id, name=name.strip(), relationship=relationship.strip(),
            phone=phone.strip() or None, email=email.strip() or None, next_of_kin=kin,
            notify_alerts=notify), f"{escape_markdown(name.strip() or 'Carer')} added.")
    if current:
        cols = st.columns([3, 1])
        gone = cols[0].selectbox("Remove a carer", [c.id for c in current], index=None,
                                 format_func={c.id: c.name for c in current}.__getitem__,
                                 key="carer_remove_pick")
        if cols[1].button("Remove", key="carer_remove") and gone is not None:
            save_change(lambda: session.api().remove_contact(patient.id, int(gone)),
                        "Carer removed.")


def _coordinators(patient: Patient) -> dict[int, str]:
    try:
        with session.handling_errors(soft=True):
            return {s.id: f"{s.display_name} ({s.role})"
                    for s in session.api().team_staff(patient.team_id)}
    except ApiError:
        return {}


def _people_fields(team: CareTeam, people: dict[int, str], cols: Any) -> dict[str, Any]:
    """GP, coordinator, single point of access, access to the home, advance decision."""
    c1, c2, c3 = cols
    ids = list(people)
    return {
        "gp_name": c1.text_input("GP", value=team.gp_name or ""),
        "gp_practice": c2.text_input("GP practice", value=team.gp_practice or ""),
        "gp_phone": c3.text_input("GP phone", value=team.gp_phone or ""),
        "coordinator_id": c1.selectbox(
            "Care coordinator", ids, format_func=people.__getitem__,
            index=ids.index(team.coordinator_id) if team.coordinator_id in ids else None),
        "coordinator_role": c2.text_input("Coordinator's role",
                                          value=team.coordinator_role or "",
                                          placeholder="e.g. community matron"),
        "spa_phone": c3.text_input("Single point of access number", value=team.spa_phone or ""),
        "key_safe_note": c1.text_input("Key safe", value=team.key_safe_note or ""),
        "access_note": c2.text_input("Access note", value=team.access_note or ""),
        "advance_decision": c3.checkbox("Advance decision (ReSPECT/DNACPR) in place",
                                        value=team.advance_decision),
        "advance_decision_note": c3.text_input("What it is and where it is kept",
                                               value=team.advance_decision_note or ""),
    }


def _consent_fields(team: CareTeam, cols: Any) -> dict[str, Any]:
    """Consent (what, when, by whom) and why the patient was enrolled."""
    c1, c2, c3 = cols
    return {
        "consent_monitoring": c1.checkbox("Consents to monitoring",
                                          value=bool(team.consent_monitoring)),
        "consent_sharing": c2.checkbox("Consents to sharing with carers and services",
                                       value=bool(team.consent_sharing)),
        "consent_on": c1.date_input("Consent recorded on", value=team.consent_on,
                                    max_value=clock.today(session.settings().zone)),
        "consent_taken_by": c2.text_input("Consent taken by", value=team.consent_taken_by or ""),
        "enrolment_conditions": c1.checkbox("Enrolled: long-term conditions",
                                            value=team.enrolment_conditions),
        "enrolment_risk": c2.checkbox("Enrolled: risk score", value=team.enrolment_risk),
        "enrolment_judgement": c3.checkbox("Enrolled: clinical judgement",
                                           value=team.enrolment_judgement),
        "enrolment_note": st.text_input("Enrolment note", value=team.enrolment_note or ""),
    }


def _care_team_form(patient: Patient, team: CareTeam) -> None:
    people = _coordinators(patient)
    if team.coordinator_id is not None and team.coordinator_id not in people:
        people[team.coordinator_id] = team.coordinator_name or f"staff {team.coordinator_id}"
    with st.form("care_team_edit"):
        cols = st.columns(3)
        values = {**_people_fields(team, people, cols), **_consent_fields(team, cols)}
        submitted = st.form_submit_button("Save care team", type="primary")
    if submitted:
        fields = {k: (v.strip() or None) if isinstance(v, str) else v
                  for k, v in values.items() if k in CARE_TEAM_FIELDS}
        save_change(lambda: session.api().set_care_team(patient.id, fields), "Care team saved.")
