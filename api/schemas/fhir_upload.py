"""The envelope of a FHIR upload (`POST /fhir`): a transaction or batch Bundle whose entries
each hold a resource and the request that creates it. The resources themselves are read by
the shared decoders, so a bad resource is refused per entry, not as a malformed Bundle."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# A Bundle is a FHIR resource: elements Telehub does not use (meta, id, timestamp…) are kept.
_OPEN = ConfigDict(extra="allow")


class EntryRequest(BaseModel):
    """`Bundle.entry.request`: how the entry is to be processed."""

    model_config = _OPEN
    method: str = Field(max_length=10)
    url: str = Field(max_length=2048)
    ifNoneExist: str | None = Field(default=None, max_length=2048)


class BundleEntry(BaseModel):
    """`Bundle.entry`: one resource and its request."""

    model_config = _OPEN
    fullUrl: str | None = Field(default=None, max_length=2048)
    resource: dict[str, Any]
    request: EntryRequest


class TransactionBundle(BaseModel):
    """A `transaction` (or `batch`) Bundle, as a PHD IG gateway uploads one."""

    model_config = _OPEN
    resourceType: Literal["Bundle"]
    type: Literal["transaction", "batch"]
    entry: list[BundleEntry] = Field(min_length=1)
