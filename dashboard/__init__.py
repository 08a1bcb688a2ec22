"""Streamlit dashboard: caseload, alert inbox, patient view with the care plan, responder queue,
devices, team view, outcomes and the MDT list."""
