"""Requests to the API with the signed-in user's token: the one place the dashboard speaks HTTP,
turning failures into `dashboard.client.errors` and bodies into models."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from dashboard.client.errors import ApiError, ServiceUnavailable, error_for

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
# Long enough for a year of bucketed readings on a busy server; short enough that a
# nurse sees "service unavailable" rather than a page that never loads.
TIMEOUT_S = 15.0


def iso(value: date | None) -> str | None:
    """A date or datetime as the API takes it, or None."""
    return value.isoformat() if value is not None else None


def _items(body: Any) -> list[Any]:
    """The items of a page ({"items": [...]}) or a plain list."""
    if isinstance(body, dict) and "items" in body:
        return list(body["items"])
    if isinstance(body, list):
        return body
    raise ApiError(200, "The service sent a list in a form the dashboard does not know.")


def new_http(base_url: str, *, timeout: float = TIMEOUT_S) -> httpx.Client:
    """A connection-pooling HTTP client for the API at `base_url`."""
    return httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                        headers={"Accept": "application/json"})


class Transport:
    """The plumbing every group of API calls shares: one request with the token."""

    def __init__(self, http: httpx.Client, token: str | None = None) -> None:
        self._http = http
        self._token = token

    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              json: Any = None, data: Mapping[str, str] | None = None,
              content: bytes | None = None, content_type: str | None = None,
              accept: str | None = None) -> httpx.Response:
        """One request with the token; the successful response, or the matching ApiError."""
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        if content_type:
            headers["Content-Type"] = content_type
        if accept:
            headers["Accept"] = accept
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=clean, json=json, data=data,
                                          content=content, headers=headers)
        except httpx.TransportError as err:
            logger.warning("API %s %s failed: %s", method, path, type(err).__name__)
            raise ServiceUnavailable(0, "The Telehub service cannot be reached just now. "
                                     "Try again in a minute.") from err
        if response.is_success:
            return response
        logger.info("API %s %s answered %s", method, path, response.status_code)
        raise error_for(response)

    def _request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                 json: Any = None, data: Mapping[str, str] | None = None,
                 content: bytes | None = None, content_type: str | None = None) -> Any:
        response = self._send(method, path, params=params, json=json, data=data,
                              content=content, content_type=content_type)
        return response.json() if response.content else None

    def _text(self, path: str, *, accept: str, **params: Any) -> str:
        """A document the API serves as text (CSV, HTML)."""
        return self._send("GET", path, params=params, accept=accept).text

    def _get(self, path: str, model: type[M], **params: Any) -> M:
        return model.model_validate(self._request("GET", path, params=params))

    def _post(self, path: str, model: type[M], **body: Any) -> M:
        """POST a JSON body; the API's answer as `model`."""
        return model.model_validate(self._request("POST", path, json=body))

    def _list(self, path: str, model: type[M], **params: Any) -> list[M]:
        body = self._request("GET", path, params=params)
        return TypeAdapter(list[model]).validate_python(_items(body))  # type: ignore[valid-type]
