"""The Mosquitto broker Telehub ships: configuration, access rules and password hashes."""
