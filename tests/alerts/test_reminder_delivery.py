"""A reminder goes through the outbox to the team's red topic like every notification: the
real scheduler queues it at N minutes, the real notifier publishes it to a real subscriber."""

from __future__ import annotations

from datetime import timedelta

from psycopg_pool import ConnectionPool

from alerts.notifier import Notifier
from alerts.scheduler import Scheduler
from telehub.config import Settings
from tests.alerts.conftest import NOW, Clinic, Subscriber, commit_red_alert

# Other processes (hub, notifier, scheduler, CLI) read this module's data: it commits.
COMMITS = True


def test_a_reminder_reaches_the_teams_red_topic(clinic: Clinic, settings: Settings,
                                                pool: ConnectionPool,
                                                subscriber: Subscriber) -> None:
    # Escalation after an hour here, so the reminder at 30 minutes is the only news.
    clinic.conn.execute("UPDATE teams SET red_escalation_minutes = 60")
    pid = commit_red_alert(clinic)
    scheduler = Scheduler(settings, pool)
    assert scheduler.run_escalations_once(NOW + timedelta(minutes=29)) == {
        "escalated": 0, "telecare_escalated": 0, "reminders": 0, "watches_ended": 0}
    assert scheduler.run_escalations_once(NOW + timedelta(minutes=30)) == {
        "escalated": 0, "telecare_escalated": 0, "reminders": 1, "watches_ended": 0}
    notifier = Notifier(settings, pool)
    notifier.start()
    try:
        (_, opened), (topic, reminder) = subscriber.take(2)
    finally:
        notifier.stop()
    [alert] = clinic.alerts(pid)
    assert opened["event"] == "opened"
    assert topic == f"{settings.topic_root}/alerts/north/red"
    assert (reminder["event"], reminder["alert_id"], reminder["status"]) == (
        "reminder", alert["id"], "open")
    assert (reminder["reminder"], reminder["minutes_unacknowledged"]) == (1, 30)
    assert reminder["notification_id"] != opened["notification_id"]
    assert clinic.nhs[pid] not in str(reminder)
