"""`ApiClient`: the Telehub API as the signed-in member of staff sees it, every call of the
dashboard in one client (the groups of calls live beside their models, by concern)."""

from __future__ import annotations

from dashboard.client.alerts import AlertCalls
from dashboard.client.care import CareCalls
from dashboard.client.devices import DeviceCalls
from dashboard.client.episodes import EpisodeCalls
from dashboard.client.figures import FigureCalls
from dashboard.client.patients import PatientCalls
from dashboard.client.performance import PerformanceCalls
from dashboard.client.staff import StaffCalls


class ApiClient(StaffCalls, PatientCalls, CareCalls, EpisodeCalls, AlertCalls, DeviceCalls,
                FigureCalls, PerformanceCalls):
    """The API as the signed-in member of staff sees it."""

    def with_token(self, token: str) -> ApiClient:
        """The same API as the member of staff this token belongs to."""
        return ApiClient(self._http, token)
