"""FastAPI app: auth, roles, patients, devices, readings, alerts, caseloads, FHIR export."""
