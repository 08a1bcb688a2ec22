"""Telehub's shared core: settings, database, domain types, MQTT contract and the CLI."""

__version__ = "0.1.0"
