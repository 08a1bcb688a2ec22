-- Telehub core schema (DESIGN.md section 5). Times are UTC timestamptz; values canonical.

CREATE TYPE staff_role AS ENUM ('admin', 'matron', 'nurse', 'responder', 'manager');
CREATE TYPE metric AS ENUM ('weight', 'spo2', 'pulse', 'glucose');
-- Canonical storage units, one per metric.
CREATE TYPE unit AS ENUM ('kg', '%', '/min', 'mmol/L');
-- Every unit a device may send (kept as the raw unit beside the canonical value).
CREATE TYPE input_unit AS ENUM ('kg', 'lb', 'st', '%', '/min', 'mmol/L', 'mg/dL');
CREATE TYPE device_kind AS ENUM ('scale', 'oximeter', 'glucometer');
CREATE TYPE patient_status AS ENUM ('active', 'paused', 'in-hospital', 'discharged');
CREATE TYPE severity AS ENUM ('info', 'amber', 'red');
CREATE TYPE alert_status AS ENUM ('open', 'acknowledged', 'resolved');
CREATE TYPE alert_outcome AS ENUM (
    'advice-given', 'medication-changed', 'visit-arranged', 'referred-to-gp',
    'admitted', 'false-alarm', 'measurement-error', 'no-action-needed', 'condition-cleared'
);

-- Modulus-11 check of a ten-digit NHS number (NHS Data Dictionary).
CREATE FUNCTION nhs_number_is_valid(n text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT n ~ '^[0-9]{10}$' AND (
        SELECT CASE 11 - (sum(substr(n, i, 1)::int * (11 - i)) % 11)
                   WHEN 11 THEN 0 WHEN 10 THEN -1
                   ELSE 11 - (sum(substr(n, i, 1)::int * (11 - i)) % 11) END
        FROM generate_series(1, 9) AS i
    ) = substr(n, 10, 1)::int
$$;

CREATE TABLE teams (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code                    text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9-]{1,39}$'),
    name                    text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 120),
    red_escalation_minutes  integer NOT NULL DEFAULT 15 CHECK (red_escalation_minutes BETWEEN 1 AND 240),
    working_day_end         time NOT NULL DEFAULT '17:00',
    created_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 120),
    role           staff_role NOT NULL,
    team_id        bigint REFERENCES teams (id),
    password_hash  text,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz,
    -- Nurses and matrons work in a team; admins, managers and responders may span teams.
    CHECK (role NOT IN ('nurse', 'matron') OR team_id IS NOT NULL)
);

CREATE TABLE api_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE,            -- sha256 of the token; the token is never stored
    staff_id      bigint NOT NULL REFERENCES staff (id),
    kind          text NOT NULL CHECK (kind IN ('session', 'integration')),
    name          text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

CREATE TABLE patients (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    display_id     text GENERATED ALWAYS AS ('TH-' || lpad(id::text, 6, '0')) STORED UNIQUE,
    nhs_number     text NOT NULL UNIQUE CHECK (nhs_number_is_valid(nhs_number)),
    given_name     text NOT NULL CHECK (length(given_name) BETWEEN 1 AND 120),
    family_name    text NOT NULL CHECK (length(family_name) BETWEEN 1 AND 120),
    birth_date     date NOT NULL CHECK (birth_date > '1900-01-01'),
    address_line   text,
    postcode       text,
    phone          text,
    team_id        bigint NOT NULL REFERENCES teams (id),
    named_nurse_id bigint REFERENCES staff (id),
    conditions     text[] NOT NULL DEFAULT '{}' CHECK (
        conditions <@ ARRAY['heart-failure', 'copd', 'diabetes', 'type1-diabetes',
                            'type2-diabetes', 'hypertension']::text[]),
    status         patient_status NOT NULL DEFAULT 'active',
    paused_until   timestamptz,
    -- Measurements the care plan expects: {"weight": {"per_day": 1, "window": "morning"}, ...}
    care_plan      jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(care_plan) = 'object'),
    on_home_oxygen boolean NOT NULL DEFAULT false,
    enrolled_at    timestamptz NOT NULL DEFAULT now(),
    discharged_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patients_team_idx ON patients (team_id, status);

CREATE TABLE devices (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id        text NOT NULL UNIQUE CHECK (device_id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$'),
    kind             device_kind NOT NULL,
    serial           text,
    patient_id       bigint REFERENCES patients (id),
    active           boolean NOT NULL DEFAULT true,
    credential_hash  text,                 -- MQTT password hash (the password is shown once)
    online           boolean,
    status_at        timestamptz,
    last_seen_at     timestamptz,
    battery          smallint CHECK (battery BETWEEN 0 AND 100),
    firmware         text,
    last_seq         bigint,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_patient_idx ON devices (patient_id);

-- A device's `seq` counter skipped values: messages that never arrived.
CREATE TABLE device_seq_gaps (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    bigint NOT NULL REFERENCES devices (id),
    expected_seq bigint NOT NULL,
    received_seq bigint NOT NULL CHECK (received_seq > expected_seq),
    missing      bigint GENERATED ALWAYS AS (received_seq - expected_seq) STORED,
    detected_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX device_seq_gaps_device_idx ON device_seq_gaps (device_id, detected_at DESC);

CREATE TABLE readings (
    time         timestamptz NOT NULL,          -- the device's measurement time
    patient_id   bigint NOT NULL REFERENCES patients (id),
    device_id    bigint NOT NULL REFERENCES devices (id),
    metric       metric NOT NULL,
    value        double precision NOT NULL,     -- canonical unit
    unit         unit NOT NULL,
    raw_value    double precision NOT NULL,     -- as the device sent it
    raw_unit     input_unit NOT NULL,
    reading_key  text NOT NULL,                 -- the device's reading id, or the time when it sends none
    seq          bigint,
    flags        text[] NOT NULL DEFAULT '{}',  -- low-quality, verify, hi, lo
    received_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (value = value AND value NOT IN ('Infinity', '-Infinity')),
    CHECK ((metric = 'weight'  AND unit = 'kg'     AND value BETWEEN 20 AND 350)
        OR (metric = 'spo2'    AND unit = '%'      AND value BETWEEN 50 AND 100)
        OR (metric = 'pulse'   AND unit = '/min'   AND value BETWEEN 20 AND 250)
        OR (metric = 'glucose' AND unit = 'mmol/L' AND value BETWEEN 0.6 AND 40)),
    CHECK (length(reading_key) BETWEEN 1 AND 128),
    -- Idempotency: QoS 1 redelivers, so the same message must insert nothing new.
    -- The time is part of the key because a TimescaleDB hypertable's unique
    -- indexes must include its partitioning column; both paths use the same key.
    CONSTRAINT readings_identity UNIQUE (device_id, metric, reading_key, time)
);
CREATE INDEX readings_patient_metric_time_idx ON readings (patient_id, metric, time DESC);

CREATE TABLE thresholds (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id     bigint NOT NULL REFERENCES patients (id),
    rule_id        text NOT NULL CHECK (length(rule_id) BETWEEN 1 AND 64),
    params         jsonb NOT NULL CHECK (jsonb_typeof(params) = 'object'),
    reason         text NOT NULL CHECK (length(btrim(reason)) BETWEEN 3 AND 1000),
    set_by         bigint REFERENCES staff (id),
    set_by_name    text NOT NULL,                -- who, also when set from the CLI
    set_at         timestamptz NOT NULL DEFAULT now(),
    superseded_at  timestamptz
);
-- One current override per patient and rule; older ones stay as history.
CREATE UNIQUE INDEX thresholds_current_idx ON thresholds (patient_id, rule_id)
    WHERE superseded_at IS NULL;

CREATE TABLE alerts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id          bigint NOT NULL REFERENCES patients (id),
    team_id             bigint NOT NULL REFERENCES teams (id),
    rule_id             text NOT NULL,
    severity            severity NOT NULL,
    status              alert_status NOT NULL DEFAULT 'open',
    escalated           boolean NOT NULL DEFAULT false,
    escalated_at        timestamptz,
    message             text NOT NULL,
    metric              metric,
    first_breach_at     timestamptz NOT NULL,
    last_breach_at      timestamptz NOT NULL,
    occurrences         integer NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
    values              jsonb NOT NULL DEFAULT '{}'::jsonb,   -- latest, worst, threshold
    late                boolean NOT NULL DEFAULT false,
    condition_cleared_at timestamptz,
    assignee_id         bigint REFERENCES staff (id),
    acknowledged_at     timestamptz,
    acknowledged_by     bigint REFERENCES staff (id),
    resolved_at         timestamptz,
    resolved_by         bigint REFERENCES staff (id),
    outcome             alert_outcome,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (last_breach_at >= first_breach_at),
    CHECK (status <> 'resolved' OR (resolved_at IS NOT NULL AND outcome IS NOT NULL))
);
-- At most one active alert per patient and rule: a repeat breach updates it.
CREATE UNIQUE INDEX alerts_one_active_idx ON alerts (patient_id, rule_id)
    WHERE status <> 'resolved';
CREATE INDEX alerts_team_status_idx ON alerts (team_id, status, severity);
CREATE INDEX alerts_patient_idx ON alerts (patient_id, created_at DESC);

CREATE TABLE alert_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES alerts (id),
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text NOT NULL CHECK (kind IN ('opened', 'repeated', 'severity-raised', 'acknowledged',
                                            'assigned', 'escalated', 'condition-cleared',
                                            'resolved', 'note')),
    actor_id  bigint REFERENCES staff (id),
    actor     text NOT NULL,               -- a username, or 'system'
    note      text,
    data      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, at);

CREATE TABLE outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id         bigint REFERENCES alerts (id),
    channel          text NOT NULL CHECK (channel IN ('mqtt', 'webhook')),
    destination      text NOT NULL,       -- topic or URL
    payload          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    last_error       text
);
CREATE INDEX outbox_pending_idx ON outbox (next_attempt_at) WHERE delivered_at IS NULL;

CREATE TABLE rejected_messages (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at   timestamptz NOT NULL DEFAULT now(),
    topic         text NOT NULL,
    device_id     text,                    -- as named by the topic; may be unknown
    reason_code   text NOT NULL,
    reason        text NOT NULL,
    payload       bytea NOT NULL,          -- capped at ingest.rejected_payload_cap bytes
    payload_size  integer NOT NULL,
    item_index    integer                  -- position in a batch, when one reading of it was refused
);
CREATE INDEX rejected_messages_device_idx ON rejected_messages (device_id, received_at DESC);

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    staff_id    bigint REFERENCES staff (id),
    actor       text NOT NULL,
    action      text NOT NULL,             -- e.g. 'read', 'update', 'discharge'
    resource    text NOT NULL,             -- e.g. 'patient', 'readings', 'thresholds'
    patient_id  bigint REFERENCES patients (id),
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    client_addr text
);
CREATE INDEX audit_log_patient_idx ON audit_log (patient_id, at DESC);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
