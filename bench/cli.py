"""`telehub bench <name>`: run a benchmark with its baselines, print a table, write JSON."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import typer

from telehub.config import get_settings

if TYPE_CHECKING:  # psutil and rich load when a benchmark runs, not in every `telehub` process
    from bench.report import Report

# The alert-burden variants (kept here so `--help` needs no benchmark imports).
VARIANTS = ("hub", "engine", "stable", "book", "suggestions")
QUICK_HELP = "Small sizes (for a busy or small machine)."
ADMIN_HELP = ("A PostgreSQL URL whose user may create databases (default: "
              "TELEHUB_DATABASE_URL, else an embedded PostgreSQL); benchmarks use databases "
              "of their own.")


@contextlib.contextmanager
def _database_server(admin_url: str | None) -> Iterator[str]:
    """The PostgreSQL to benchmark on: the one named, else an embedded one (a fresh clone)."""
    url = admin_url or get_settings().database_url
    if url:
        yield url
        return
    from telehub.demo.embedded import embedded_postgres

    data_dir = get_settings().data_dir / "bench"
    typer.echo(f"TELEHUB_DATABASE_URL is not set: using an embedded PostgreSQL in {data_dir}")
    with embedded_postgres(data_dir) as embedded_url:
        yield embedded_url


def _finish(report: Report) -> Report:
    path = report.write()
    report.print()
    typer.echo(f"results: {path}")
    return report


def register(app: typer.Typer) -> None:
    """Add the `bench` command group to the telehub CLI."""
    bench = typer.Typer(help="Benchmarks with their baselines (results in bench/results/).",
                        no_args_is_help=True)

    @bench.command("queries")
    def queries_cmd(
        quick: bool = typer.Option(False, help=QUICK_HELP),
        patients: int | None = typer.Option(None, help="Patients (default 5,000; quick 1,000)."),
        days: int | None = typer.Option(None, help="Days of history (default 365; quick 90)."),
        team_size: int | None = typer.Option(None, help="Patients a team (default 500)."),
        reps: int | None = typer.Option(None, help="Timed repetitions of each query."),
        database: str = typer.Option("telehub_bench", help="Database to generate or reuse."),
        rebuild: bool = typer.Option(False, help="Regenerate the history even if present."),
        admin_url: str | None = typer.Option(None, envvar="TELEHUB_BENCH_ADMIN_URL",
                                             help=ADMIN_HELP),
        compare_url: str | None = typer.Option(
            None, help="A second PostgreSQL URL (e.g. one with TimescaleDB): the same history "
                       "and queries there too, each query's ratio between the two paths."),
        reference: str | None = typer.Option(
            None, help="Also time the caseload SQL and GET /caseload of this Telehub source "
            "tree (e.g. `git archive main | tar -x -C DIR`), turn about with this one's."),
    ) -> None:
        """Caseload, 1-year daily chart and team stats against plain indexed SELECTs."""
        from bench import queries

        base = queries.QUICK if quick else queries.FULL
        sizes = queries.QuerySizes(
            patients=patients or base.patients, days=days or base.days,
            team_size=team_size or base.team_size, reps=reps or base.reps)
        with _database_server(admin_url) as url:
            if compare_url:
                from bench.compare import run_compare

                _finish(run_compare(url, compare_url, sizes, database=database,
                                    rebuild=rebuild))
            else:
                _finish(queries.run(url, sizes, database=database, rebuild=rebuild,
                                    reference=reference))

    @bench.command("ingest")
    def ingest_cmd(
        quick: bool = typer.Option(False, help=QUICK_HELP),
        devices: int | None = typer.Option(None, help="Publishing devices (default 1,000)."),
        per_device: int | None = typer.Option(None, help="Readings each (default 100)."),
        hubs: str = typer.Option("1,2", help="Hub process counts to run, comma-separated."),
        baselines: bool = typer.Option(True, help="Also run the relay and INSERT baselines."),
        broker_saves: str = typer.Option(
            "", help="Also run hub × 1 on brokers that save their state: comma-separated "
                     "30s (timer) or N (after N changes), e.g. 30s,1000,100,10."),
        history_days: int = typer.Option(
            0, min=0, max=3650, help="Days of readings every patient has before the run "
            "(365: a patient-year of history under the rules)."),
        reference: str | None = typer.Option(
            None, help="Also run hub × 1 from this Telehub source tree (e.g. main's, from "
            "`git archive main | tar -x -C DIR`): the same-run baseline of a change."),
        database: str = typer.Option("telehub_bench_ingest", help="Database (recreated)."),
        admin_url: str | None = typer.Option(None, envvar="TELEHUB_BENCH_ADMIN_URL",
                                             help=ADMIN_HELP),
    ) -> None:
        """Readings/s MQTT → PostgreSQL: hub × 1 and × 2 against INSERT+COMMIT and relay."""
        from bench import ingest

        base = ingest.QUICK if quick else ingest.FULL
        sizes = ingest.IngestSizes(devices=devices or base.devices,
                                   per_device=per_device or base.per_device,
                                   hubs=_counts(hubs), broker_saves=_saves(broker_saves),
                                   history_days=history_days, reference=reference)
        with _database_server(admin_url) as url:
            _finish(ingest.run(url, sizes, database=database, baselines=baselines))

    @bench.command("alert-latency")
    def alert_latency_cmd(
        quick: bool = typer.Option(False, help=QUICK_HELP),
        samples: int | None = typer.Option(None, help="Breaches timed idle and under load."),
        rate: float | None = typer.Option(None, help="Background readings/s (default 2,000)."),
        devices: int | None = typer.Option(None, help="Background devices (default 10,000)."),
        hubs: int = typer.Option(1, min=1, max=8, help="Hub processes (shared when > 1)."),
        reference: str | None = typer.Option(
            None, help="Also measure the hub of this Telehub source tree, same run."),
        database: str = typer.Option("telehub_bench_alerts", help="Database (recreated)."),
        admin_url: str | None = typer.Option(None, envvar="TELEHUB_BENCH_ADMIN_URL",
                                             help=ADMIN_HELP),
    ) -> None:
        """Publish → alert on the responders' topic, median/p99, idle and under load."""
        from dataclasses import replace

        from bench import alert_latency

        sizes = alert_latency.QUICK if quick else alert_latency.FULL
        sizes = replace(sizes, samples=samples or sizes.samples, hubs=hubs,
                        background_rate=rate or sizes.background_rate,
                        background_devices=devices or sizes.background_devices,
                        reference=reference)
        with _database_server(admin_url) as url:
            _finish(alert_latency.run(url, sizes, database=database))

    @bench.command("alert-burden")
    def alert_burden_cmd(
        quick: bool = typer.Option(False, help=QUICK_HELP),
        patients: int | None = typer.Option(None, min=1, help="Patients (default 200; quick 60)."),
        days: int | None = typer.Option(None, min=1, max=28 * 12,
                                        help="Days simulated (default 30; quick 14)."),
        variants: str = typer.Option(",".join(VARIANTS), help="Variants to run, "
                                     "comma-separated: hub, engine, stable (the baseline), "
                                     "book (the clinical scenario book), suggestions (the demo's "
                                     "alert history before and after its accepted threshold "
                                     "suggestions)."),
        database: str = typer.Option("telehub_bench_burden", help="Database (recreated)."),
        admin_url: str | None = typer.Option(None, envvar="TELEHUB_BENCH_ADMIN_URL",
                                             help=ADMIN_HELP),
    ) -> None:
        """Alerts per 100 patient-days per rule and scenario: a simulated caseload through
        the hub and the engine, against the same caseload kept stable."""
        from dataclasses import replace

        from bench import alert_burden

        sizes = alert_burden.QUICK if quick else alert_burden.FULL
        sizes = replace(sizes, patients=patients or sizes.patients, days=days or sizes.days,
                        variants=_variants(variants))
        with _database_server(admin_url) as url:
            _finish(alert_burden.run(url, sizes, database=database))

    @bench.command("memory")
    def memory_cmd(
        quick: bool = typer.Option(False, help=QUICK_HELP),
        devices: int | None = typer.Option(None, help="Publishing devices (default 1,000)."),
        per_device: int | None = typer.Option(None, help="Readings each (default 100)."),
        database: str = typer.Option("telehub_bench_memory", help="Database (recreated)."),
        admin_url: str | None = typer.Option(None, envvar="TELEHUB_BENCH_ADMIN_URL",
                                             help=ADMIN_HELP),
    ) -> None:
        """Peak resident memory of hub, API and dashboard while the hub ingests."""
        from bench import memory

        base = memory.QUICK if quick else memory.FULL
        sizes = memory.IngestSizes(devices=devices or base.devices,
                                   per_device=per_device or base.per_device, hubs=(1,))
        with _database_server(admin_url) as url:
            _finish(memory.run(url, sizes, database=database))

    @bench.command("all")
    def all_cmd(
        quick: bool = typer.Option(False, help=QUICK_HELP),
        admin_url: str | None = typer.Option(None, envvar="TELEHUB_BENCH_ADMIN_URL",
                                             help=ADMIN_HELP),
    ) -> None:
        """Every benchmark in turn (ingest, alert-latency, alert-burden, queries, memory)."""
        from bench import alert_burden, alert_latency, ingest, memory, queries

        with _database_server(admin_url) as url:
            reports = [
                _finish(ingest.run(url, ingest.QUICK if quick else ingest.FULL)),
                _finish(alert_latency.run(url, alert_latency.QUICK if quick
                                          else alert_latency.FULL)),
                _finish(alert_burden.run(url, alert_burden.QUICK if quick
                                         else alert_burden.FULL)),
                _finish(queries.run(url, queries.QUICK if quick else queries.FULL,
                                    database="telehub_bench_quick" if quick
                                    else "telehub_bench")),
                _finish(memory.run(url, memory.QUICK if quick else memory.FULL)),
            ]
        from bench.report import Report

        summary = Report("all", params={"quick": quick}, columns=["ratio", "value"])
        for report in reports:
            for name, value in report.ratios.items():
                summary.add(ratio=f"{report.benchmark}: {name}", value=value)
            summary.notes += [f"{report.benchmark}: {note}" for note in report.notes]
        _finish(summary)

    app.add_typer(bench, name="bench")


def _variants(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown or not chosen:
        raise typer.BadParameter(f"variants are {', '.join(VARIANTS)}, not "
                                 f"{', '.join(unknown) or 'none'}")
    return chosen


def _saves(text: str) -> tuple[str, ...]:
    from bench.processes import parse_saves

    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    for saves in chosen:
        try:
            parse_saves(saves)
        except ValueError as err:
            raise typer.BadParameter(str(err)) from err
    return chosen


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise typer.BadParameter("give hub counts as numbers, e.g. 1,2") from err
    if any(n < 1 or n > 8 for n in counts):
        raise typer.BadParameter("hub counts are 1 to 8")
    return counts
