"""FHIR searchset Bundles: entries with resolvable fullUrls, match/include/outcome modes, and
the self, next and previous links."""

from __future__ import annotations

from typing import Any

from api.render.operation_outcome import Issue, operation_outcome


def full_url(base: str, resource: dict[str, Any]) -> str:
    """The absolute URL a resource is read at: `{base}/{type}/{id}` (base ends in /fhir)."""
    return f"{base}/{resource['resourceType']}/{resource['id']}"


def searchset(base: str, self_url: str, total: int, matches: list[dict[str, Any]], *,
              included: list[dict[str, Any]] | None = None, warnings: list[str] | None = None,
              next_url: str | None = None, previous_url: str | None = None) -> dict[str, Any]:
    """A searchset Bundle of `matches` (and `included` resources, and a warning outcome)."""
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    if previous_url is not None:
        links.append({"relation": "previous", "url": previous_url})
    entries = [{"fullUrl": full_url(base, r), "resource": r, "search": {"mode": "match"}}
               for r in matches]
    entries += [{"fullUrl": full_url(base, r), "resource": r, "search": {"mode": "include"}}
                for r in included or []]
    if warnings:
        entries.append({"resource": operation_outcome(*(Issue(w, code="not-found",
                                                              severity="warning")
                                                        for w in warnings)),
                        "search": {"mode": "outcome"}})
    return {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links,
            "entry": entries}
