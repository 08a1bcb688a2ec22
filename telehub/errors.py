"""The small hierarchy of Telehub's own errors."""

from __future__ import annotations


class TelehubError(Exception):
    """Base class of every error Telehub raises on purpose."""


class ConfigError(TelehubError):
    """Settings are missing or inconsistent."""


class ValidationError(TelehubError):
    """A value broke a domain rule; `code` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFoundError(TelehubError):
    """A named record does not exist (or is not visible to the caller)."""
