"""Devices (admin): register, link to a patient, generate MQTT credentials (shown once), status,
and each device's sequence gaps and refused messages with the reasons."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.client import ApiError, session
from dashboard.client.devices import DeviceCredentials
from dashboard.components.formatting import format_battery, format_online
from dashboard.components.text import escape_markdown
from dashboard.components.times import format_local, time_ago
from telehub.domain import clock
from telehub.domain.codes import DEVICE_KINDS

CREDENTIALS_KEY = "devices_credentials"


def _register() -> None:
    with st.form("device_add", clear_on_submit=True):
        st.markdown("**Register a device**")
        cols = st.columns(4)
        device_id = cols[0].text_input("Device id", placeholder="e.g. oxi-0042")
        kind = cols[1].selectbox("Kind", DEVICE_KINDS)
        serial = cols[2].text_input("Serial number (optional)")
        patient = cols[3].number_input("Patient id (optional)", min_value=1, step=1, value=None)
        if not st.form_submit_button("Register", type="primary"):
            return
    try:
        with session.handling_errors(soft=True):
            session.api().add_device(device_id.strip(), kind, serial.strip() or None,
                                     int(patient) if patient is not None else None)
    except ApiError as err:
        st.error(escape_markdown(err.message))
        return
    st.session_state["devices_notice"] = f"Device {escape_markdown(device_id.strip())} registered."
    st.rerun()


def _manage(devices: dict[str, str]) -> None:
    st.markdown("**Link a device or generate its credentials**")
    cols = st.columns([2, 1, 1, 1])
    device_id = cols[0].selectbox("Device", list(devices), format_func=devices.__getitem__,
                                  index=None, key="device_pick", placeholder="Choose a device…")
    patient = cols[1].number_input("Patient id", min_value=1, step=1, value=None,
                                   key="device_patient")
    link = cols[2].button("Link to patient", key="device_link")
    release = cols[2].button("Unlink", key="device_unlink")
    creds = cols[3].button("Generate MQTT credentials", key="device_creds")
    if device_id is None or not (link or creds or release):
        return
    try:
        with session.handling_errors(soft=True):
            if release:
                session.api().unassign_device(device_id)
                notice = f"Device {escape_markdown(device_id)} unlinked."
            elif link:
                if patient is None:
                    st.error("Enter the patient id to link the device to.")
                    return
                session.api().assign_device(device_id, int(patient))
                notice = f"Device {escape_markdown(device_id)} linked to patient {int(patient)}."
            else:
                st.session_state[CREDENTIALS_KEY] = session.api().device_credentials(device_id)
                notice = f"MQTT credentials generated for device {escape_markdown(device_id)}."
    except ApiError as err:
        st.error(escape_markdown(err.message))
        return
    st.session_state["devices_notice"] = notice
    st.rerun()


def _show_credentials_once() -> None:
    made = st.session_state.pop(CREDENTIALS_KEY, None)
    if not isinstance(made, DeviceCredentials):
        return
    st.warning("Copy these now: the password is shown only this once.", icon="🔑")
    st.code(f"username: {made.username}\npassword: {made.password}\n"
            f"readings topic: {made.readings_topic}\nstatus topic: {made.status_topic}",
            language="yaml")


def _diagnostics(devices: dict[str, str]) -> None:
    """A device's sequence gaps (messages that never arrived) and refused messages."""
    st.markdown("**Diagnose a device**: missing and refused messages")
    device_id = st.selectbox("Device to diagnose", list(devices), index=None,
                             format_func=devices.__getitem__, key="device_diagnose",
                             placeholder="Choose a device…")
    if device_id is None:
        return
    zone = session.settings().zone
    try:
        with session.handling_errors(soft=True):
            gaps = session.api().device_gaps(device_id)
            refused = session.api().device_rejected(device_id)
    except ApiError as err:
        st.error(escape_markdown(err.message))
        return
    left, right = st.columns([2, 3])
    with left:
        st.markdown(f"Sequence gaps: **{sum(g.missing for g in gaps)} messages missing**")
        if gaps:
            st.dataframe(pd.DataFrame([{
                "Detected": format_local(g.detected_at, zone), "Expected no.": g.expected_seq,
                "Arrived no.": g.received_seq, "Missing": g.missing} for g in gaps]),
                hide_index=True, width="stretch", key="device_gaps_table")
        else:
            st.caption("No gaps: every numbered message arrived.")
    with right:
        st.markdown(f"Refused messages: **{len(refused)}**")
        if refused:
            st.dataframe(pd.DataFrame([{
                "Received": format_local(m.received_at, zone), "Reason": m.reason,
                "Code": m.reason_code,
                "Reading in batch": "" if m.item_index is None else m.item_index + 1,
                "Bytes": m.payload_size,
                "Sent (start)": m.payload_preview + ("…" if m.preview_truncated else ""),
            } for m in refused]), hide_index=True, width="stretch",
                key="device_rejected_table")
        else:
            st.caption("The hub has refused nothing from this device.")


def render() -> None:
    """The device register."""
    st.title("Devices")
    notice = st.session_state.pop("devices_notice", None)
    if notice:
        st.success(notice)
    _show_credentials_once()
    with session.handling_errors():
        devices = session.api().devices()
    now = clock.now()
    zone = session.settings().zone
    # Devices needing attention first: offline, then low battery, then never seen.
    devices = sorted(devices, key=lambda d: (d.online is not False,
                                             d.battery is None or d.battery >= 20,
                                             d.last_seen_at is not None, d.device_id))
    if devices:
        st.dataframe(pd.DataFrame([{
            "Device": d.device_id, "Kind": d.kind, "Serial": d.serial or "",
            "Patient": d.patient_display_id or "not linked", "Active": "yes" if d.active else "no",
            "Credentials": "set" if d.has_credentials else "none",
            "Status": format_online(d.online), "Last seen": time_ago(d.last_seen_at, now),
            "Last seen at": format_local(d.last_seen_at, zone),
            "Battery": format_battery(d.battery), "Firmware": d.firmware or "",
        } for d in devices]), hide_index=True, width="stretch", key="devices_table")
    else:
        st.info("No devices yet. Register one below, then link it to a patient.")
    _register()
    labels = {d.device_id: f"{d.device_id} ({d.kind}, {d.patient_display_id or 'not linked'})"
              for d in devices}
    _manage(labels)
    _diagnostics(labels)


render()
