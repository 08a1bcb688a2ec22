"""Alert burden: a simulated caseload of 200 patients over 30 days through the rules engine
and the scheduler, with nurses resolving the day's alerts at 17:00 (marked slow).

The simulation is the engine variant of `telehub bench alert-burden` (bench/alert_burden.py),
which also runs it through a real hub and against the caseload kept stable.
Prints alerts per 100 patient-days for each episode and each rule that set the severity.
Run: pytest tests/alerts/test_alert_burden.py -m slow -s
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import psycopg
import pytest

from bench.alert_burden import BurdenSizes, simulate_in_process
from telehub.config import Settings

PATIENTS = 200
DAYS = 30
END = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


@pytest.mark.slow
def test_alert_burden_of_a_simulated_caseload(conn: psycopg.Connection, settings: Settings
                                              ) -> None:
    burden = simulate_in_process(conn, settings, BurdenSizes(patients=PATIENTS, days=DAYS),
                                 end=END)
    rows = burden.alerts
    patient_days = burden.patient_days
    by_episode = Counter((r["episode"], r["severity"]) for r in rows)
    print(f"\n{burden.readings} readings, {len(rows)} alerts for {patient_days} patient-days "
          f"= {burden.per_100(len(rows))} alerts per 100 patient-days")
    for (episode, sev), n in sorted(by_episode.items(), key=lambda x: -x[1]):
        print(f"  episode {episode:<26} {sev:<6} {n:>5}  {burden.per_100(n):6.2f}")
    for rule, n in burden.by_rule().most_common():
        print(f"  rule    {rule:<33} {n:>5}  {burden.per_100(n):6.2f}")
    for scenario, (patients, n) in burden.by_scenario().items():
        print(f"  scenario {scenario:<20} {patients:>4} patients {n:>5} alerts "
              f"{burden.per_100(n, patients * DAYS):6.2f} per 100 patient-days")
    stable = [r for r in rows if burden.scenarios[r["patient_id"]] == "stable"]
    print(f"  stable patients' alerts: {Counter((r['rule'], r['severity']) for r in stable)}")
    assert burden.readings > PATIENTS * DAYS
    assert 0 < len(rows) < patient_days / 2
