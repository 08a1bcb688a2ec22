"""`telehub teams|patients|devices …`: administration from the command line."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import typer

from telehub.care import registration as registry
from telehub.care.audit import record_audit
from telehub.cli import operator
from telehub.cli import run_in_transaction as in_tx

teams = typer.Typer(help="Nursing teams.", no_args_is_help=True)
patients = typer.Typer(help="Monitored patients.", no_args_is_help=True)
devices = typer.Typer(help="Home devices.", no_args_is_help=True)



def _emit(data: dict[str, Any] | list[dict[str, Any]], as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data, default=str, indent=2) if as_json else text)


@teams.command("add")
def teams_add(name: str = typer.Option(..., help="Team name, e.g. 'North Locality'."),
              code: str = typer.Option(None, help="Short code used in alert topics."),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """Add a nursing team."""
    code = code or "-".join(name.lower().split())

    def add(conn: Any) -> int:
        tid = registry.add_team(conn, code, name)
        record_audit(conn, actor=operator(), action="create", resource="team",
                     detail={"target": code.strip().lower(), "team_id": tid})
        return tid

    tid = in_tx(add)
    _emit({"id": tid, "code": code, "name": name}, as_json, f"team {code} added (id {tid})")


@patients.command("add")
def patients_add(nhs_number: str = typer.Option(..., "--nhs-number"),
                 name: str = typer.Option(..., help="Full name: given names then family name."),
                 birth_date: str = typer.Option(..., "--birth-date", help="YYYY-MM-DD"),
                 team: str = typer.Option(..., help="Team code or name."),
                 conditions: str = typer.Option("", help="e.g. heart-failure,copd,diabetes"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Register a patient for monitoring."""
    parts = name.strip().rsplit(" ", 1)
    if len(parts) != 2:
        typer.secho("error: give a given name and a family name", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    try:
        born = date.fromisoformat(birth_date)
    except ValueError as err:
        typer.secho(f"error: birth date '{birth_date}' is not YYYY-MM-DD", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(1) from err

    def add(conn: Any) -> dict[str, Any]:
        pid = registry.add_patient(conn, nhs_number=nhs_number, given_name=parts[0],
                                   family_name=parts[1], birth_date=born, team=team,
                                   conditions=conditions.split(","))
        row = conn.execute("SELECT display_id FROM patients WHERE id=%s", (pid,)).fetchone()
        record_audit(conn, actor=operator(), action="create", resource="patient", patient_id=pid,
                     detail={"target": row["display_id"], "team": team})
        return {"id": pid, "display_id": row["display_id"]}

    out = in_tx(add)
    _emit(out, as_json, f"patient {out['display_id']} registered")


@devices.command("add")
def devices_add(device_id: str = typer.Option(..., "--device-id"),
                kind: str = typer.Option(..., help="scale, oximeter or glucometer"),
                patient: str = typer.Option(None, help="The patient's NHS number."),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Register a device and link it to a patient."""

    def add(conn: Any) -> int:
        did = registry.add_device(conn, device_id=device_id, kind=kind, patient=patient)
        row = conn.execute("SELECT patient_id FROM devices WHERE id = %s", (did,)).fetchone()
        record_audit(conn, actor=operator(), action="register", resource="device",
                     patient_id=row["patient_id"], detail={"target": device_id, "kind": kind})
        return did

    did = in_tx(add)
    _emit({"id": did, "device_id": device_id, "kind": kind}, as_json,
          f"device {device_id} registered")


@devices.command("rotate-password")
def devices_rotate_password(device_id: str = typer.Option(..., "--device-id"),
                            as_json: bool = typer.Option(False, "--json")) -> None:
    """Give a device a new broker password (its first, or a replacement), shown once."""
    from telehub.broker.access import issue_device_password
    from telehub.config import get_settings
    from telehub.mqtt import topics

    def issue(conn: Any) -> Any:
        issued = issue_device_password(conn, device_id)
        record_audit(conn, actor=operator(), action="issue-credentials", resource="device",
                     patient_id=issued.patient_id,
                     detail={"target": device_id, "replaced": issued.replaced})
        return issued

    issued = in_tx(issue)
    root = get_settings().topic_root
    _emit({"device_id": device_id, "username": device_id, "password": issued.password,
           "replaced": issued.replaced, "readings_topic": topics.readings_topic(device_id, root),
           "status_topic": topics.status_topic(device_id, root)}, as_json,
          f"device {device_id}: username {device_id}, new password {issued.password}\n"
          "Shown once: put it on the device now. The broker accepts it (and stops accepting "
          "the old one) once its users are regenerated with `telehub broker config` and it "
          "is restarted.")


@devices.command("list")
def devices_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List devices with their patient and status."""
    rows = in_tx(registry.list_devices)
    lines = [f"{r['device_id']:<24} {r['kind']:<11} {r['patient'] or '-':<10} "
             f"{'online' if r['online'] else 'offline' if r['online'] is False else 'unknown':<8} "
             f"battery {r['battery'] if r['battery'] is not None else '-'}" for r in rows]
    _emit(rows, as_json, "\n".join(lines) or "no devices registered")


def register(app: typer.Typer) -> None:
    """Add the administration commands to the `telehub` app."""
    app.add_typer(teams, name="teams")
    app.add_typer(patients, name="patients")
    app.add_typer(devices, name="devices")
