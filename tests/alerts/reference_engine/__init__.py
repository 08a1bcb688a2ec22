"""The rules engine as it was before per-rule summaries: the reference of the differential
test (tests/alerts/test_engine_differential.py). Do not change it to follow the engine."""
