-- Fewer, better alerts: a watch period on a reviewed alert, reminders of unacknowledged red
-- alerts, and individual thresholds with an end date.

-- A nurse who has reviewed an alert watches it until a time, with a reason; notifications
-- and escalation hold meanwhile, a worse reading re-raises it, and at the end it returns to
-- the inbox (alerts.lifecycle).
ALTER TABLE alerts
    ADD COLUMN watch_until      timestamptz,
    ADD COLUMN watch_started_at timestamptz,
    ADD COLUMN watch_reason     text CHECK (length(btrim(watch_reason)) BETWEEN 3 AND 1000),
    ADD COLUMN watch_by         bigint REFERENCES staff (id),
    -- The last reminder slot notified (alerts.reminders): since + k × the team's minutes.
    ADD COLUMN reminded_at      timestamptz,
    ADD CONSTRAINT alerts_watch_whole CHECK (
        (watch_until IS NULL) = (watch_started_at IS NULL)
        AND (watch_until IS NULL) = (watch_reason IS NULL)),
    ADD CONSTRAINT alerts_watch_after_start CHECK (watch_until IS NULL
                                                   OR watch_until > watch_started_at);
CREATE INDEX alerts_watch_until ON alerts (watch_until) WHERE watch_until IS NOT NULL;

-- Minutes between reminders of a red alert nobody has acknowledged (to the team's red
-- topic); NULL switches reminders off for the team. 30 by default: the escalation at 15
-- minutes already notifies the topic again, so the first reminder comes after it.
ALTER TABLE teams ADD COLUMN red_reminder_minutes integer DEFAULT 30
    CHECK (red_reminder_minutes BETWEEN 5 AND 240);

-- A temporary individual threshold: in force until ends_at (on the service clock), then the
-- patient's permanent override or the catalogue default applies again by itself.
-- (set_at is the database's time, ends_at the service clock's: the end is checked in Python.)
ALTER TABLE thresholds ADD COLUMN ends_at timestamptz;
-- One permanent and one temporary row current per patient and rule (a temporary one past its
-- end stays current, and ended, until the next temporary one supersedes it).
DROP INDEX thresholds_current_idx;
CREATE UNIQUE INDEX thresholds_current_idx ON thresholds (patient_id, rule_id, (ends_at IS NULL))
    WHERE superseded_at IS NULL;

ALTER TABLE alert_events DROP CONSTRAINT alert_events_kind_check;
ALTER TABLE alert_events ADD CONSTRAINT alert_events_kind_check CHECK (kind IN (
    'opened', 'repeated', 'severity-raised', 'acknowledged', 'assigned', 'escalated',
    'condition-cleared', 'resolved', 'note',
    'call-logged', 'carer-contacted', 'visit-dispatched', 'ambulance-called',
    'escalated-to-matron',
    'watch-started', 're-raised', 'watch-ended', 'reminded'));
