"""Reading a Prometheus /metrics endpoint over HTTP, sample by sample."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
TEAM = "north-locality"   # the caseload fixture's team


def scrape(url: str) -> tuple[str, Samples]:
    """The exposition text at `url` and its samples by (name, labels)."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback http)
        text = response.read().decode()
    samples = {(s.name, frozenset(s.labels.items())): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (KeyError when it is not exported)."""
    return samples[(name, frozenset(labels.items()))]
