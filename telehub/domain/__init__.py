"""Telehub domain: metrics and units, codes, NHS numbers, reading checks, the service clock."""
