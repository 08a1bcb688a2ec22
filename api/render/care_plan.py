"""The printable one-page care plan (HTML)."""

from __future__ import annotations

import html

from api.schemas.care_plans import CarePlanOut, TriggerOut
from api.schemas.care_team import CareTeamOut

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>My care plan</title>
<style>
@page {{ size: A4; margin: 12mm; }}
body {{ font-family: Arial, sans-serif; font-size: 12pt; line-height: 1.35; max-width: 180mm; }}
h1 {{ font-size: 18pt; margin: 0 0 4pt; }} h2 {{ font-size: 13pt; margin: 10pt 0 4pt; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #555; padding: 3pt 5pt; text-align: left; vertical-align: top; }}
.red {{ background: #fde0dc; }} .amber {{ background: #fff3cd; }}
.call {{ font-size: 14pt; font-weight: bold; }}
</style></head><body>
<h1>My care plan</h1>
<p>{name} &middot; {display_id} &middot; review due {review_due}</p>
<h2>Who to call</h2>
<p class="call">Not an emergency: {spa} &middot; Emergency: 999</p>
<p>GP: {gp} &middot; Care coordinator: {coordinator}</p>
<h2>What to measure</h2>
<table><tr><th>Measurement</th><th>How often</th></tr>{schedule}</table>
<h2>When to act, and what to do</h2>
<table><tr><th>If</th><th>What it means</th><th>What to do</th></tr>{triggers}</table>
</body></html>
"""


def trigger_line(trigger: TriggerOut) -> str:
    """One trigger as a sentence for the responder's card, with what the patient's plan says to
    do: "RED: SpO2 at or below 89 % (individual threshold; low oxygen saturation). Care plan:
    Start your rescue pack." """
    own = "individual threshold; " if trigger.individual else ""
    text = f"{trigger.severity.upper()}: {trigger.when} ({own}{trigger.label.lower()})."
    return f"{text} Care plan: {trigger.advice}" if trigger.advice else text


def render_care_plan(name: str, plan: CarePlanOut, team: CareTeamOut) -> str:
    """The one-page plan the patient keeps on the fridge (every value HTML-escaped)."""
    e = html.escape
    schedule = "".join(
        f"<tr><td>{e(s.metric)}</td><td>{s.per_day} a day"
        f"{' (' + e(s.window) + ')' if s.window else ''}</td></tr>" for s in plan.schedule)
    triggers = "".join(
        f'<tr class="{e(t.severity)}"><td>{e(t.when)}</td><td>{e(t.label)} '
        f"({'urgent' if t.severity == 'red' else 'same day'})</td>"
        f"<td>{e(t.advice or _DEFAULT_ADVICE[t.severity])}</td></tr>" for t in plan.triggers)
    coordinator = ", ".join(x for x in (team.coordinator_name, team.coordinator_role) if x)
    return _PAGE.format(
        name=e(name), display_id=e(plan.display_id),
        review_due=e(plan.review_due.strftime("%d %b %Y") if plan.review_due else "not set"),
        spa=e(team.spa_phone or "ask your nurse for the number"),
        gp=e(" ".join(x for x in (team.gp_name, team.gp_practice, team.gp_phone) if x) or "-"),
        coordinator=e(coordinator or "-"), schedule=schedule or "<tr><td colspan=2>-</td></tr>",
        triggers=triggers or "<tr><td colspan=3>-</td></tr>")


_DEFAULT_ADVICE = {"red": "Call the single point of access now (999 if you feel very unwell).",
                   "amber": "Call the single point of access today."}

