"""Care records: registration, care plans, reviews and imports, shared by the API and the seed."""
