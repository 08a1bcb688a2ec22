"""Models every router shares: pages, problem details, CSV import results, bounded dates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from telehub.domain import clock

T = TypeVar("T")
D = TypeVar("D", date, datetime)


def _in_service_span(value: D) -> D:
    if not clock.in_service_span(value):
        raise ValueError(f"must be {clock.service_span_text()}")
    return value


# A date or time a request names: refused with a 422 outside the service's span.
SpanDate = Annotated[date, AfterValidator(_in_service_span)]
SpanTime = Annotated[datetime, AfterValidator(_in_service_span)]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(_Out, Generic[T]):
    """One page of a list: `items`, how many match in all, and the window asked for."""

    items: list[T]
    total: int
    limit: int
    offset: int


class Problem(BaseModel):
    """An error as RFC 9457 problem details (media type application/problem+json)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str | None = Field(None, description="Machine-readable reason, e.g. 'bad-nhs-number'.")
    errors: list[dict[str, Any]] | None = Field(
        None, description="Per-field problems of a request that failed validation.")


class RowError(BaseModel):
    """One CSV row that was refused (row 1 is the first row after the header)."""

    row: int
    code: str
    message: str


class ImportResultOut(BaseModel):
    """What a CSV import kept and what it refused; good rows are kept whatever the others."""

    rows: int
    imported: int
    unchanged: int = 0                # rows already present (re-import is harmless)
    errors: list[RowError]

