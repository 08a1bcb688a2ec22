"""The dashboard's one client of the Telehub API: its calls and models by concern, the signed-in
session and the cached reads pages use."""

from __future__ import annotations

from dashboard.client.api import ApiClient
from dashboard.client.errors import (
    ApiError,
    Forbidden,
    Invalid,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    error_for,
)
from dashboard.client.transport import new_http

__all__ = ["ApiClient", "ApiError", "Forbidden", "Invalid", "NotFound", "ServiceUnavailable",
           "Unauthorized", "error_for", "new_http"]
