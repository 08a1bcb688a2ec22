"""`telehub bench alert-burden`: alerts per 100 patient-days for a simulated caseload, per rule
and per scenario, against the same caseload kept stable.

The caseload is the demo seed's mix (`telehub.demo.caseload.plan_demo`): conditions, scenarios,
devices, schedules and individual SpO2 scales. Its readings come from the simulators'
physiology, hour by simulated hour over the days measured; after each hour the alert
scheduler runs at that simulated time (missing readings, escalations) and at 17:00 the
nurses close every alert of the day (outcome "advice given"), so the next breach opens a
new alert, as it would in the service.

Variants, each on a fresh database:
- `hub`: every reading published at QoS 1 to a mosquitto of the benchmark's own and
  stored and evaluated by a real `telehub hub` process (ingest transaction, rules engine,
  outbox, notifier). The hub evaluates at wall-clock time and its own scheduler would
  look at the wall clock too, so the benchmark holds the scheduler's lock and runs
  `Scheduler.run_once(<simulated hour>)` itself; acute freshness is widened for the hub
  so a reading published minutes after its simulated time is not treated as a late one.
- `engine`: the same readings stored by COPY and evaluated in-process by
  `alerts.engine.evaluate(now=<simulated hour>)`: every clock is the simulated one, so
  suppression after a resolution works as in life (the hub variant sees resolutions
  days "ago" and never suppresses).
- `stable` (baseline): the same patients, devices and schedules with every scenario
  replaced by "stable", through the engine: the alerts a caseload raises when nobody
  deteriorates: the floor of false alarms and routine reminders the rules cost.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from bench.databases import connect, recreate_database
from bench.report import Report, ratio
from telehub.care import registration as registry
from telehub.config import Settings
from telehub.domain.codes import ReadingFlag
from telehub.domain.readings import StoredReading
from telehub.domain.units import SPECS, Metric

VARIANTS = ("hub", "engine", "stable", "book", "suggestions")
RESOLVE_HOUR = 17          # the nurses close the day's alerts (17:00 UTC in winter)


@dataclass(frozen=True)
class BurdenSizes:
    """The caseload simulated and which variants run."""

    patients: int = 200
    days: int = 30
    seed: int = 2026
    variants: tuple[str, ...] = VARIANTS
    stall_s: float = 60.0       # hub variant: give up when nothing new is stored this long


FULL = BurdenSizes()
QUICK = BurdenSizes(patients=60, days=14)

COLUMNS = ["group", "name", *VARIANTS]
# "book": the clinical scenario book (bench/book_burden.py) at each hour the scenario test
# runs it, its cells "raised / expected" alerts, beside the simulated caseload's rates.


@dataclass
class Burden:
    """One variant's outcome: its alerts and what they were raised for."""

    variant: str
    patients: int
    days: int
    readings: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    scenarios: dict[int, str] = field(default_factory=dict)   # patient id → scenario
    seconds: float = 0.0
    error: str | None = None

    @property
    def patient_days(self) -> int:
        """Patients × days simulated."""
        return self.patients * self.days

    def per_100(self, n: int, patient_days: int | None = None) -> float:
        """`n` alerts as alerts per 100 patient-days."""
        return round(100 * n / (patient_days or self.patient_days), 2)

    def by_rule(self) -> Counter[str]:
        """Alerts by the rule that set their severity."""
        return Counter(str(a["rule"]) for a in self.alerts)

    def by_severity(self) -> Counter[str]:
        """Alerts by severity."""
        return Counter(str(a["severity"]) for a in self.alerts)

    def by_scenario(self) -> dict[str, tuple[int, int]]:
        """Per scenario: (patients, alerts)."""
        patients = Counter(self.scenarios.values())
        alerts = Counter(self.scenarios[a["patient_id"]] for a in self.alerts)
        return {s: (patients[s], alerts[s]) for s in sorted(patients)}


@dataclass(frozen=True)
class Caseload:
    """The registered caseload: readings device → (patient id, device row id)."""

    plan: list[Any]
    devices: dict[str, tuple[int, int]]
    scenarios: dict[int, str]


def window(days: int, end: datetime | None = None) -> tuple[datetime, datetime]:
    """The simulated period: `days` ending at `end` (default: the current hour)."""
    end = end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return end - timedelta(days=days), end


def plan_caseload(sizes: BurdenSizes, *, stable: bool = False) -> list[Any]:
    """The seed's patients (scenario mix), or the same patients with every scenario stable."""
    from telehub.demo.caseload import plan_demo

    plan = plan_demo(seed=sizes.seed, count=sizes.patients)
    if stable:
        plan = [replace(p, simulation=replace(p.simulation, scenario="stable")) for p in plan]
    return plan


def register_caseload(conn: psycopg.Connection[Any], plan: Sequence[Any], start: datetime,
                      end: datetime, *, labels: Sequence[str] | None = None) -> Caseload:
    """One team with the planned patients enrolled at `start`, their devices and SpO2 scales.
    Device rules are not measured: devices count as seen until after `end`. `labels` name
    each patient's scenario in the results (default: the one simulated)."""
    team = registry.add_team(conn, "burden", "Burden Locality")
    devices: dict[str, tuple[int, int]] = {}
    scenarios: dict[int, str] = {}
    for i, p in enumerate(plan):
        pid = registry.add_patient(conn, nhs_number=p.nhs_number, given_name="Sim",
                                   family_name=f"Patient {p.index}", birth_date=p.birth_date,
                                   team=team, conditions=p.conditions,
                                   care_plan=dict(p.simulation.schedule))
        scenarios[pid] = labels[i] if labels is not None else p.simulation.scenario
        conn.execute("UPDATE patients SET enrolled_at = %s, on_home_oxygen = %s WHERE id = %s",
                     (start, p.home_oxygen, pid))
        if p.spo2_scale == 2:
            conn.execute("INSERT INTO thresholds (patient_id, rule_id, params, reason, "
                         "set_by_name) VALUES (%s, 'spo2-scale', %s, 'Target 88-92 %%', "
                         "'matron')", (pid, Jsonb({"scale": 2})))
        for d in p.simulation.devices:
            devices[d.device_id] = (pid, registry.add_device(
                conn, device_id=d.device_id, kind=d.kind, patient=pid))
        conn.execute("UPDATE devices SET last_seen_at = %s, online = true WHERE patient_id = %s",
                     (end + timedelta(days=1), pid))
    return Caseload(list(plan), devices, scenarios)


def caseload_readings(plan: Sequence[Any], seed: int, start: datetime,
                      end: datetime) -> list[Any]:
    """The simulated measurements in time order (device faults left out: ingest rejects them
    and they raise no clinical alert)."""
    from device_simulators.physiology import caseload_models, measurements_between
    from telehub.domain.roster import Caseload as SimCaseload

    models = caseload_models(SimCaseload(seed, tuple(p.simulation for p in plan)), end)
    return [m for m in measurements_between(models, start, end) if m.fault is None]


Deliver = Callable[[list[Any], datetime], None]


def drive(conn: psycopg.Connection[Any], pool: ConnectionPool, settings: Settings,
          readings: Sequence[Any], start: datetime, end: datetime, deliver: Deliver) -> None:
    """Hour by simulated hour: deliver the hour's readings, run the scheduler at that hour,
    and at 17:00 resolve every open alert."""
    from alerts.scheduler import Scheduler

    scheduler = Scheduler(settings, pool)
    step = timedelta(hours=1)
    t, k = start, 0
    while t < end:
        t += step
        batch = []
        while k < len(readings) and readings[k].time < t:
            batch.append(readings[k])
            k += 1
        deliver(batch, t)
        scheduler.run_once(t)
        if t.hour == RESOLVE_HOUR:
            conn.execute("UPDATE alerts SET status = 'resolved', resolved_at = %s, "
                         "outcome = 'advice-given' WHERE status <> 'resolved'", (t,))
            conn.commit()


def store_readings(conn: psycopg.Connection[Any], items: Sequence[Any],
                   devices: dict[str, tuple[int, int]], now: datetime) -> list[StoredReading]:
    """Store measurements by COPY (pulse as its own reading); returns them as stored."""
    stored = []
    with conn.cursor() as cur, cur.copy(
            "COPY readings (time, patient_id, device_id, metric, value, unit, raw_value, "
            "raw_unit, reading_key, flags, received_at) FROM STDIN") as copy:
        for m in items:
            pid, dev = devices[m.device_id]
            flags = [ReadingFlag.LOW_QUALITY.value] if m.low_quality else []
            pairs = [(m.metric, m.value)] + ([(Metric.PULSE, m.pulse)] if m.pulse else [])
            for metric, value in pairs:
                unit = SPECS[metric].canonical
                key = f"{metric.value}-{m.time.isoformat()}"
                copy.write_row((m.time, pid, dev, metric.value, value, unit.value, value,
                                unit.value, key, flags, now))
                stored.append(StoredReading(m.time, pid, dev, metric, value, unit, value, unit,
                                            now, key, tuple(flags)))
    return stored


_ALERTS_SQL = ("SELECT patient_id, rule_id AS episode, values ->> 'rule' AS rule, "
               "severity::text AS severity, late FROM alerts")


def collect(conn: psycopg.Connection[Any], burden: Burden) -> Burden:
    """Read the variant's alerts back from the database."""
    burden.alerts = [dict(r) for r in conn.execute(_ALERTS_SQL).fetchall()]
    return burden


def simulate_in_process(conn: psycopg.Connection[Any], settings: Settings,
                        sizes: BurdenSizes, *, stable: bool = False,
                        end: datetime | None = None,
                        rules: Callable[..., None] | None = None) -> Burden:
    """The engine (or stable baseline) variant on `conn`'s empty, migrated database:
    readings stored by COPY and evaluated by the rules engine at the simulated time
    (`rules`: an engine's `evaluate(conn, readings, now=...)`, default alerts.engine's)."""
    from alerts.engine import evaluate as engine_evaluate
    from telehub.db.pool import open_pool

    started = time.perf_counter()
    start, end = window(sizes.days, end)
    plan = plan_caseload(sizes, stable=stable)
    # The stable baseline's patients keep their scenario-mix labels: "copd-exacerbation"
    # then says what those same patients raise while stable.
    labels = [p.simulation.scenario for p in plan_caseload(sizes)]
    caseload = register_caseload(conn, plan, start, end, labels=labels)
    conn.commit()
    readings = caseload_readings(plan, sizes.seed, start, end)
    burden = Burden("stable" if stable else "engine", sizes.patients, sizes.days,
                    readings=len(readings), scenarios=caseload.scenarios)

    evaluate = rules or engine_evaluate

    def deliver(batch: list[Any], t: datetime) -> None:
        evaluate(conn, store_readings(conn, batch, caseload.devices, t), now=t)
        conn.commit()

    pool = open_pool(settings.require_database_url(), max_size=2, name="burden")
    try:
        drive(conn, pool, settings, readings, start, end, deliver)
    finally:
        pool.close()
    burden.seconds = time.perf_counter() - started
    return collect(conn, burden)


def run(admin_url: str, sizes: BurdenSizes, *,
        database: str = "telehub_bench_burden") -> Report:
    """Run the variants on fresh databases; return the report."""
    start, end = window(sizes.days)
    report = Report("alert-burden", params={
        "patients": sizes.patients, "days": sizes.days, "seed": sizes.seed,
        "patient_days": sizes.patients * sizes.days, "variants": list(sizes.variants),
        "simulated_from": start.isoformat(), "simulated_to": end.isoformat(),
        "database": database, "unit": "alerts per 100 patient-days"}, columns=COLUMNS)
    results: dict[str, Burden] = {}
    # The scheduler logs every simulated hour that raised something: hundreds of lines.
    scheduler_log = logging.getLogger("alerts.scheduler")
    level = scheduler_log.level
    scheduler_log.setLevel(logging.WARNING)
    try:
        _run_variants(admin_url, sizes, database, end, report, results)
    finally:
        scheduler_log.setLevel(level)
    tabulate(report, results)
    return report


def _run_variants(admin_url: str, sizes: BurdenSizes, database: str, end: datetime,
                  report: Report, results: dict[str, Burden]) -> None:
    from bench.processes import command_available

    for variant in sizes.variants:
        if variant == "book":
            from bench.book_burden import report_book
            report_book(admin_url, database, report)
            continue
        if variant == "suggestions":
            from bench.suggestion_burden import report_suggestions
            report_suggestions(admin_url, database, report)   # the demo's own seed
            continue
        url = recreate_database(admin_url, database)
        if variant == "hub":
            missing = command_available("hub")
            if missing:
                report.notes.append(missing)
                continue
            from bench.alert_burden_hub import simulate_through_hub

            with tempfile.TemporaryDirectory(prefix="telehub-bench-") as tmp:
                results[variant] = simulate_through_hub(url, sizes, Path(tmp), end=end)
        else:
            with connect(url) as conn:
                results[variant] = simulate_in_process(
                    conn, Settings(database_url=url), sizes, stable=variant == "stable",
                    end=end)
        burden = results[variant]
        if burden.error:
            report.notes.append(f"{variant}: {burden.error}")
        report.params[variant] = {
            "readings": burden.readings, "alerts": len(burden.alerts),
            "seconds": round(burden.seconds, 1), "by_severity": dict(burden.by_severity()),
            "late": sum(1 for a in burden.alerts if a["late"])}


def tabulate(report: Report, results: dict[str, Burden]) -> None:
    """Rows per rule, per severity and per scenario; the ratios to the stable baseline."""
    if not results:
        return

    def row(group: str, name: str, count: Callable[[Burden], tuple[int, int | None]]) -> None:
        cells: dict[str, Any] = {}
        for variant, burden in results.items():
            n, days = count(burden)
            cells[variant] = burden.per_100(n, days) if days != 0 else None
        report.add(group=group, name=name, **cells)

    def every(b: Burden) -> tuple[int, int | None]:
        return len(b.alerts), None

    row("all", "every alert", every)
    for sev in ("red", "amber", "info"):
        def of_severity(b: Burden, s: str = sev) -> tuple[int, int | None]:
            return b.by_severity()[s], None
        row("severity", sev, of_severity)
    rules = Counter[str]()
    for burden in results.values():
        rules.update(burden.by_rule())
    for rule, _ in rules.most_common():
        def of_rule(b: Burden, r: str = rule) -> tuple[int, int | None]:
            return b.by_rule()[r], None
        row("rule", rule, of_rule)
    scenario_names = sorted({s for b in results.values() for s in b.scenarios.values()})
    for scenario in scenario_names:
        def per_scenario(b: Burden, s: str = scenario) -> tuple[int, int | None]:
            ids = {pid for pid, label in b.scenarios.items() if label == s}
            return sum(1 for a in b.alerts if a["patient_id"] in ids), len(ids) * b.days
        row("scenario", scenario, per_scenario)
    total = {v: b.per_100(len(b.alerts)) for v, b in results.items()}
    report.ratios.update({
        "hub / stable baseline (all alerts)": ratio(total.get("hub"), total.get("stable")),
        "engine / stable baseline (all alerts)": ratio(total.get("engine"), total.get("stable")),
        "hub / engine (all alerts)": ratio(total.get("hub"), total.get("engine")),
    })
    report.ratios = {k: v for k, v in report.ratios.items() if v is not None}
