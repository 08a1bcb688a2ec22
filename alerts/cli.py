"""`telehub thresholds show|set` and `telehub alerts list` from the command line."""

from __future__ import annotations

import getpass
import json
import re
from datetime import date, datetime, timedelta
from typing import Any

import typer
from psycopg.rows import dict_row

from alerts import thresholds as th
from alerts.catalogue import load_catalogue
from alerts.threshold_values import params_text
from telehub.care import registration as registry
from telehub.cli import run_in_transaction as in_tx
from telehub.domain import clock
from telehub.errors import ValidationError

thresholds_app = typer.Typer(help="Individual alert thresholds per patient.",
                             no_args_is_help=True)
alerts_app = typer.Typer(help="Clinical alerts.", no_args_is_help=True)

_PARAM_OPTION = typer.Option(
    None, "--param", help="name=value, a glucose limit with its unit (below=3.5 mmol/L or "
    "below=63mg/dL); repeat for several.")

_UNTIL_OPTION = typer.Option(
    None, "--until", help="Temporary: 14d (days from now), a day (2026-12-17: through that "
    "day) or a local time (2026-12-17T09:00); it reverts by itself at its end.")
_DAYS = re.compile(r"(\d{1,3})\s*d")

_LIST_SQL = """
SELECT a.id, a.severity::text AS severity, a.status::text AS status, a.escalated,
       p.display_id AS patient, t.code AS team, a.rule_id AS rule, a.metric::text AS metric,
       a.first_breach_at, a.last_breach_at, a.occurrences, a.late, a.condition_cleared_at,
       a.outcome::text AS outcome, a.message, a.values
FROM alerts a JOIN patients p ON p.id = a.patient_id JOIN teams t ON t.id = a.team_id
WHERE (%(pid)s::bigint IS NULL OR a.patient_id = %(pid)s)
  AND (%(all)s OR a.status <> 'resolved')
ORDER BY CASE a.severity WHEN 'red' THEN 0 WHEN 'amber' THEN 1 ELSE 2 END, a.last_breach_at DESC
LIMIT %(limit)s
"""




def _parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            typer.secho(f"error: --param '{pair}' is not name=value", err=True,
                        fg=typer.colors.RED)
            raise typer.Exit(2)
        params[name.strip()] = value.strip()
    return params


def until_end(text: str, now: datetime) -> datetime:
    """The end a `--until` names: "14d" is 14 days from now, a day runs through that local
    day, a time without a zone is local (checked as the API checks it)."""
    zone = clock.service_zone()
    value = text.strip()
    days = _DAYS.fullmatch(value)
    until: date | datetime
    if days:
        until = now + timedelta(days=int(days.group(1)))
    else:
        try:
            until = date.fromisoformat(value) if len(value) == 10 \
                else datetime.fromisoformat(value)
        except ValueError as err:
            raise ValidationError("bad-until", f"--until '{text}' is not 14d, a day "
                                  "(2026-12-17) or a time (2026-12-17T09:00).") from err
        if isinstance(until, datetime) and until.tzinfo is None:
            until = until.replace(tzinfo=zone)
    return th.temporary_end(until, now, zone)


def _fmt(params: dict[str, Any] | None) -> str:
    if not params:
        return "-"
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _shown(rule_id: str, params: dict[str, Any]) -> str:
    """Parameters in words with their units (glucose in mmol/L first)."""
    rule = load_catalogue().get(rule_id)
    return params_text(rule, params) if rule is not None else _fmt(params)


@thresholds_app.command("show")
def thresholds_show(patient: str = typer.Option(..., "--patient", help="NHS number."),
                    show_all: bool = typer.Option(False, "--all",
                                                  help="Include rules that do not apply."),
                    as_json: bool = typer.Option(False, "--json")) -> None:
    """The rules that apply to a patient, with individual thresholds and who set them."""
    rows = in_tx(lambda c: th.thresholds_for_patient(c, registry.patient_id(c, patient)))
    if not show_all:
        rows = [r for r in rows if r["applies"]]
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=2))
        return
    for r in rows:
        line = f"{r['id']:<26} {r['severity'] or '':<6} {r['shown']['effective']}"
        if r["individual"] is not None:
            until = f" until {r['ends_at']:%Y-%m-%d %H:%M} UTC" if r["ends_at"] else ""
            line += (f"   [individual{until}: {r['shown']['individual']}; set by "
                     f"{r['set_by_name']} at {r['set_at']:%Y-%m-%d %H:%M} UTC: {r['reason']}]")
        typer.echo(line)


@thresholds_app.command("set")
def thresholds_set(patient: str = typer.Option(..., "--patient", help="NHS number."),
                   rule: str = typer.Option(None, "--rule", help="Rule id (see show)."),
                   param: list[str] | None = _PARAM_OPTION,
                   spo2_scale: int = typer.Option(None, "--spo2-scale",
                                                  help="Put the patient on NEWS2 scale 1 or 2."),
                   reason: str = typer.Option(..., "--reason", help="Why (kept in the record)."),
                   by: str = typer.Option(None, "--by", help="Who sets it (default: you)."),
                   until: str = _UNTIL_OPTION,
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """Override a rule's parameters for one patient (takes effect on the next reading);
    with --until only for a while."""
    who = by or getpass.getuser()
    ends = None
    if until is not None:
        try:
            ends = until_end(until, clock.now())
        except ValidationError as err:
            typer.secho(f"error: {err.message}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from err
    if spo2_scale is not None:
        if rule or param:
            typer.secho("error: give either --spo2-scale or --rule/--param, not both",
                        err=True, fg=typer.colors.RED)
            raise typer.Exit(2)
        row = in_tx(lambda c: th.set_spo2_scale(c, registry.patient_id(c, patient), spo2_scale,
                                                reason, who, ends_at=ends))
    else:
        if not rule or not param:
            typer.secho("error: give --rule and at least one --param name=value "
                        "(or --spo2-scale)", err=True, fg=typer.colors.RED)
            raise typer.Exit(2)
        params = _parse_params(param or [])
        row = in_tx(lambda c: th.set_threshold(c, registry.patient_id(c, patient), rule,
                                               params, reason, who, ends_at=ends))
    out = {k: row[k] for k in ("rule_id", "params", "reason", "set_by_name", "set_at",
                               "ends_at")}
    if as_json:
        typer.echo(json.dumps(out, default=str, indent=2))
    else:
        until_text = (f", until {out['ends_at'].astimezone(clock.service_zone()):%d %b %Y %H:%M}"
                      if out["ends_at"] else "")
        typer.echo(f"{out['rule_id']}: {_shown(out['rule_id'], out['params'])} "
                   f"(set by {out['set_by_name']}{until_text})")


@alerts_app.command("list")
def alerts_list(patient: str = typer.Option(None, "--patient", help="NHS number."),
                include_resolved: bool = typer.Option(False, "--all",
                                                      help="Include resolved alerts."),
                limit: int = typer.Option(200, min=1, max=10_000),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Active alerts, most urgent first."""
    def fetch(conn: Any) -> list[dict[str, Any]]:
        pid = registry.patient_id(conn, patient) if patient else None
        return conn.cursor(row_factory=dict_row).execute(
            _LIST_SQL, {"pid": pid, "all": include_resolved, "limit": limit}).fetchall()

    rows = in_tx(fetch)
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=2))
        return
    if not rows:
        typer.echo("no alerts")
        return
    for r in rows:
        flags = " escalated" if r["escalated"] else ""
        flags += " cleared" if r["condition_cleared_at"] else ""
        typer.echo(f"#{r['id']} {r['severity'].upper():<5} {r['status']:<12} {r['patient']} "
                   f"{r['rule']} x{r['occurrences']}{flags}\n    {r['message']}")


@alerts_app.command("demo-staff", hidden=True)
def demo_staff(history: bool = typer.Option(False, "--history", help="Write the demo's months "
                                            "of handled alerts first (once)."),
               every: float = typer.Option(0.0, min=0.0, help="Act again every this many "
                                           "seconds (0: once)."),
               seed: int = typer.Option(None, help="The demo seed (default: the demo's).")
               ) -> None:
    """The demo's simulated team: acknowledges and resolves alerts as a working team does."""
    import time

    from alerts.demo_history import write_alert_history
    from alerts.demo_staff import act_on_alerts
    from telehub.demo.caseload import DEMO_SEED
    from telehub.domain import clock

    number = DEMO_SEED if seed is None else seed
    if history:
        written = in_tx(lambda conn: write_alert_history(conn, number, clock.today()))
        typer.echo(f"demo history: {written} alerts handled")
    while True:
        done = in_tx(lambda conn: act_on_alerts(conn, number, clock.now()))
        if not every:
            typer.echo(f"demo team: {dict(done)}")
            return
        time.sleep(every)


def register(app: typer.Typer) -> None:
    """Add `thresholds` and `alerts` to the `telehub` command."""
    app.add_typer(thresholds_app, name="thresholds")
    app.add_typer(alerts_app, name="alerts")
