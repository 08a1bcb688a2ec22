-- One outbox row per alert event (its team and severity, no pre-built topic) and one
-- delivery row per channel: MQTT, and each webhook URL the notifier had configured when it
-- planned the event. Each delivery is claimed, sent, retried and marked on its own, so a
-- broker outage delays only MQTT and a slow webhook delays only itself.

ALTER TABLE outbox
    ADD COLUMN team        text,
    ADD COLUMN severity    severity,
    -- when a notifier wrote this event's delivery rows; NULL: not yet planned
    ADD COLUMN planned_at  timestamptz;

-- Existing rows: the payload carries the team and severity it was published for (the
-- topic, built as <root>/alerts/<team>/<severity>, says the same).
UPDATE outbox SET
    team = coalesce(payload ->> 'team', substring(destination from '/alerts/([^/]+)/[^/]+$')),
    severity = coalesce(payload ->> 'severity',
                        substring(destination from '/alerts/[^/]+/([^/]+)$'))::severity;

CREATE TABLE outbox_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id        bigint NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    channel          text NOT NULL CHECK (channel IN ('mqtt', 'webhook')),
    destination      text,                -- the webhook URL; NULL for MQTT (topic built at send)
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    -- when it may be claimed next: a claim moves it to the end of the claim's lease, so a
    -- crashed sender's deliveries come due again; a failure moves it to the retry time
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_by       text,                -- the notifier sending it now (NULL: not in flight)
    delivered_at     timestamptz,
    last_error       text,
    CHECK ((channel = 'mqtt') = (destination IS NULL))
);
CREATE UNIQUE INDEX outbox_deliveries_channel_key
    ON outbox_deliveries (outbox_id, channel, coalesce(destination, ''));
CREATE INDEX outbox_deliveries_due_idx
    ON outbox_deliveries (channel, coalesce(destination, ''), next_attempt_at)
    WHERE delivered_at IS NULL;

-- MQTT rows become the event's MQTT delivery, keeping their history.
INSERT INTO outbox_deliveries (outbox_id, channel, created_at, attempts, next_attempt_at,
                               delivered_at, last_error)
SELECT id, 'mqtt', created_at, attempts, next_attempt_at, delivered_at, last_error
FROM outbox WHERE channel = 'mqtt';

-- Webhook rows were copies queued when their MQTT row was delivered: they become webhook
-- deliveries of that event (the latest earlier MQTT row of the alert with the same body).
CREATE TEMPORARY TABLE webhook_parents ON COMMIT DROP AS
SELECT w.id AS webhook_id,
       (SELECT max(m.id) FROM outbox m
        WHERE m.channel = 'mqtt' AND m.alert_id IS NOT DISTINCT FROM w.alert_id
          AND m.payload = w.payload AND m.id < w.id) AS parent_id
FROM outbox w WHERE w.channel = 'webhook';

INSERT INTO outbox_deliveries (outbox_id, channel, destination, created_at, attempts,
                               next_attempt_at, delivered_at, last_error)
SELECT coalesce(p.parent_id, w.id), 'webhook', w.destination, w.created_at, w.attempts,
       w.next_attempt_at, w.delivered_at, w.last_error
FROM outbox w JOIN webhook_parents p ON p.webhook_id = w.id
ON CONFLICT DO NOTHING;

DELETE FROM outbox o USING webhook_parents p
WHERE o.id = p.webhook_id AND p.parent_id IS NOT NULL;

-- A delivered MQTT row had its webhooks queued with it, and an orphan webhook row is its
-- own event: both are planned. An undelivered MQTT row never got its webhooks: the
-- notifier plans it again (its MQTT delivery is kept, the webhooks are added).
UPDATE outbox o SET planned_at = coalesce(d.delivered_at, o.created_at)
FROM outbox_deliveries d
WHERE d.outbox_id = o.id AND (o.channel = 'webhook' OR d.delivered_at IS NOT NULL)
  AND d.channel = o.channel;

ALTER TABLE outbox
    ALTER COLUMN team SET NOT NULL,
    ALTER COLUMN severity SET NOT NULL,
    DROP COLUMN channel,
    DROP COLUMN destination,
    DROP COLUMN attempts,
    DROP COLUMN next_attempt_at,
    DROP COLUMN delivered_at,
    DROP COLUMN last_error;
CREATE INDEX outbox_unplanned_idx ON outbox (id) WHERE planned_at IS NULL;
