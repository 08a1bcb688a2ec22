"""MQTT ingest: decode, validate, normalise and store readings; nothing lost, nothing doubled."""
