"""The small hierarchy of Telehub's own errors."""

from __future__ import annotations


class TelehubError(Exception):
    """Base class of every error Telehub raises on purpose."""


class ConfigError(TelehubError):
    """Settings are missing or inconsistent."""


class BackupError(TelehubError):
    """A backup or restore was refused or failed; the message says why and what to do."""


class ValidationError(TelehubError):
    """A value broke a domain rule; `code` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFoundError(TelehubError):
    """A named record does not exist (or is not visible to the caller)."""


class DuplicatePatientError(ValidationError):
    """The NHS number is already registered; who may be told so is the caller's to decide.

    `patient_id` and `team_id` name the existing record so the caller can apply its
    visibility rules; they are never part of the message.
    """

    def __init__(self, patient_id: int, team_id: int) -> None:
        super().__init__("duplicate-patient",
                         "A patient with this NHS number is already registered.")
        self.patient_id = patient_id
        self.team_id = team_id
