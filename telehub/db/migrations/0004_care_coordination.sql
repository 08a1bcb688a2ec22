-- Care coordination and telecare response: the people around the patient, the care plan's
-- review and advice, risk tiers, telecare events, responder actions, hospital episodes.

-- Telecare devices publish events, not readings. (New enum values cannot be used in the
-- transaction that adds them; nothing below uses them.)
ALTER TYPE device_kind ADD VALUE IF NOT EXISTS 'pendant';
ALTER TYPE device_kind ADD VALUE IF NOT EXISTS 'fall-detector';
ALTER TYPE device_kind ADD VALUE IF NOT EXISTS 'smoke';
ALTER TYPE device_kind ADD VALUE IF NOT EXISTS 'heat';
ALTER TYPE device_kind ADD VALUE IF NOT EXISTS 'flood';
ALTER TYPE device_kind ADD VALUE IF NOT EXISTS 'door';

-- A telecare alert (fall, pendant, smoke…) escalates when nobody acknowledges it this soon.
ALTER TABLE teams ADD COLUMN telecare_escalation_minutes integer NOT NULL DEFAULT 2
    CHECK (telecare_escalation_minutes BETWEEN 1 AND 60);

-- What responders record on an alert, beside the lifecycle transitions.
ALTER TABLE alert_events DROP CONSTRAINT alert_events_kind_check;
ALTER TABLE alert_events ADD CONSTRAINT alert_events_kind_check CHECK (kind IN (
    'opened', 'repeated', 'severity-raised', 'acknowledged', 'assigned', 'escalated',
    'condition-cleared', 'resolved', 'note',
    'call-logged', 'carer-contacted', 'visit-dispatched', 'ambulance-called',
    'escalated-to-matron'));

-- The named team around one patient, access to the home, advance decisions, consent,
-- enrolment criteria and the care plan's review date and self-management advice.
CREATE TABLE patient_care (
    patient_id                 bigint PRIMARY KEY REFERENCES patients (id),
    gp_name                    text CHECK (length(gp_name) <= 120),
    gp_practice                text CHECK (length(gp_practice) <= 200),
    gp_phone                   text CHECK (length(gp_phone) <= 40),
    coordinator_id             bigint REFERENCES staff (id),
    coordinator_role           text CHECK (length(coordinator_role) <= 80),
    spa_phone                  text CHECK (length(spa_phone) <= 40),
    key_safe_note              text CHECK (length(key_safe_note) <= 1000),
    access_note                text CHECK (length(access_note) <= 1000),
    advance_decision           boolean NOT NULL DEFAULT false,
    advance_decision_note      text CHECK (length(advance_decision_note) <= 1000),
    consent_monitoring         boolean,
    consent_sharing            boolean,
    consent_on                 date,
    consent_taken_by           text CHECK (length(consent_taken_by) <= 120),
    enrolment_conditions       boolean NOT NULL DEFAULT false,
    enrolment_risk             boolean NOT NULL DEFAULT false,
    enrolment_judgement        boolean NOT NULL DEFAULT false,
    enrolment_note             text CHECK (length(enrolment_note) <= 2000),
    -- What the patient does when a trigger fires: {"spo2-low": "Use your rescue pack…"}.
    advice                     jsonb NOT NULL DEFAULT '{}'::jsonb
                               CHECK (jsonb_typeof(advice) = 'object'),
    review_due                 date,
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    updated_by                 text
);
CREATE INDEX patient_care_review_idx ON patient_care (review_due);

-- Carers and next of kin.
CREATE TABLE patient_contacts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id      bigint NOT NULL REFERENCES patients (id),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    relationship    text NOT NULL CHECK (length(relationship) BETWEEN 1 AND 80),
    phone           text CHECK (length(phone) <= 40),
    email           text CHECK (length(email) <= 200),
    next_of_kin     boolean NOT NULL DEFAULT false,
    notify_alerts   boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    removed_at      timestamptz
);
CREATE INDEX patient_contacts_patient_idx ON patient_contacts (patient_id) WHERE removed_at IS NULL;

-- Every care-plan review: who, when, and the next date it falls due.
CREATE TABLE care_plan_reviews (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id     bigint NOT NULL REFERENCES patients (id),
    reviewed_on    date NOT NULL,
    reviewed_by    bigint REFERENCES staff (id),
    reviewer       text NOT NULL,
    note           text CHECK (length(note) <= 2000),
    next_due       date NOT NULL CHECK (next_due > reviewed_on),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX care_plan_reviews_patient_idx ON care_plan_reviews (patient_id, reviewed_on DESC);

-- Scores from an external risk-stratification tool; the latest per patient is their tier.
CREATE TABLE risk_scores (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id   bigint NOT NULL REFERENCES patients (id),
    score        double precision NOT NULL CHECK (score >= 0 AND score <= 100000),
    tier         text NOT NULL CHECK (length(tier) BETWEEN 1 AND 40),
    scored_on    date NOT NULL,
    imported_at  timestamptz NOT NULL DEFAULT now(),
    imported_by  text NOT NULL,
    UNIQUE (patient_id, scored_on)
);

-- Telecare events as devices sent them; (device, event id) makes redelivery harmless.
CREATE TABLE telecare_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    bigint NOT NULL REFERENCES devices (id),
    patient_id   bigint NOT NULL REFERENCES patients (id),
    event_key    text NOT NULL CHECK (length(event_key) BETWEEN 1 AND 128),
    event        text NOT NULL CHECK (event IN ('fall', 'pendant', 'smoke', 'heat', 'flood',
                                                'no-activity')),
    time         timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    alert_id     bigint REFERENCES alerts (id),
    UNIQUE (device_id, event_key)
);
CREATE INDEX telecare_events_patient_idx ON telecare_events (patient_id, time DESC);

-- Which teams a responder covers (none listed: their own team, or every team).
CREATE TABLE responder_coverage (
    staff_id  bigint NOT NULL REFERENCES staff (id),
    team_id   bigint NOT NULL REFERENCES teams (id),
    PRIMARY KEY (staff_id, team_id)
);

-- Emergency admissions, A&E attendances and discharges, with the post-admission review.
CREATE TABLE hospital_episodes (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id         bigint NOT NULL REFERENCES patients (id),
    kind               text NOT NULL CHECK (kind IN ('emergency-admission', 'ae-attendance')),
    started_on         date NOT NULL,
    discharged_on      date CHECK (discharged_on >= started_on),
    hospital           text CHECK (length(hospital) <= 200),
    reason             text CHECK (length(reason) <= 1000),
    source             text NOT NULL CHECK (source IN ('manual', 'import')),
    recorded_by        text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    avoidable          text CHECK (avoidable IN ('yes', 'no', 'unsure')),
    would_have_helped  text CHECK (length(would_have_helped) <= 2000),
    reviewed_by        text,
    reviewed_at        timestamptz,
    UNIQUE (patient_id, kind, started_on)
);
CREATE INDEX hospital_episodes_started_idx ON hospital_episodes (started_on);

-- A task after discharge (e.g. a call within two days).
CREATE TABLE follow_up_tasks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id  bigint NOT NULL REFERENCES patients (id),
    episode_id  bigint REFERENCES hospital_episodes (id),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    due_on      date NOT NULL,
    done_at     timestamptz,
    done_by     text,
    note        text CHECK (length(note) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (episode_id)
);
CREATE INDEX follow_up_tasks_open_idx ON follow_up_tasks (due_on) WHERE done_at IS NULL;
