"""What the API renders beyond JSON: FHIR R4 resources and the printable care plan."""
