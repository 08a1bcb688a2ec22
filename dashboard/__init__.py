"""Streamlit dashboard: caseload, alert inbox, patient view, devices and team view."""
