"""Benchmark results: one printed table and one JSON file per run, with the baselines' ratios."""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the numbers were measured on (they mean little without it)."""
    freq = psutil.cpu_freq()
    return {
        "host": platform.node(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_mhz": round(freq.max or freq.current) if freq else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def summarise(samples_s: list[float]) -> dict[str, float]:
    """Median, p95, p99, min and max of timings in seconds, reported in milliseconds."""
    ordered = sorted(samples_s)
    if not ordered:
        return {}

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] * 1000

    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(pct(0.95), 3),
        "p99_ms": round(pct(0.99), 3),
        "min_ms": round(ordered[0] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator rounded for a table, or None when either is missing or zero."""
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


@dataclass
class Report:
    """One benchmark run: its parameters, one row per measurement, and ratios to baselines."""

    benchmark: str
    params: dict[str, Any]
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    ratios: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def add(self, **row: Any) -> None:
        """Append one measurement row."""
        self.rows.append(row)

    def as_dict(self) -> dict[str, Any]:
        """The JSON document written to bench/results/."""
        return {
            "benchmark": self.benchmark,
            "started_at": self.started_at,
            "finished_at": datetime.now(UTC).isoformat(),
            "machine": machine(),
            "params": self.params,
            "rows": self.rows,
            "ratios": self.ratios,
            "notes": self.notes,
        }

    def write(self, directory: Path | None = None) -> Path:
        """Write the JSON (timestamped, plus `<name>-latest.json`); returns the timestamped path."""
        directory = directory or RESULTS_DIR
        directory.mkdir(parents=True, exist_ok=True)
        doc = json.dumps(self.as_dict(), indent=2, default=str)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = directory / f"{self.benchmark}-{stamp}.json"
        path.write_text(doc)
        (directory / f"{self.benchmark}-latest.json").write_text(doc)
        return path

    def print(self, console: Console | None = None) -> None:
        """Print the rows and the ratios as rich tables."""
        console = console or Console(width=max(120, Console().width))
        table = Table(title=f"telehub bench {self.benchmark}")
        for column in self.columns:
            table.add_column(column, justify="left" if column == self.columns[0] else "right")
        for row in self.rows:
            table.add_row(*(_cell(row.get(c)) for c in self.columns))
        console.print(table)
        if self.ratios:
            ratios = Table(title="ratios (same run)")
            ratios.add_column("ratio")
            ratios.add_column("value", justify="right")
            for name, value in self.ratios.items():
                ratios.add_row(name, _cell(value))
            console.print(ratios)
        for note in self.notes:
            console.print(f"[dim]note:[/dim] {note}")


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
