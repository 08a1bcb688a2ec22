"""Routes: ingest_http."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
