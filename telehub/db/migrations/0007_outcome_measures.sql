-- Outcome measures: decisions on suggested individual thresholds, and a comparison cohort
-- (people not monitored, with an enrolment-equivalent date) for before/after outcomes.

-- A clinician's decision on a suggested individual threshold. An acceptance points at the
-- threshold change it made; a dismissal keeps the suggestion quiet until `quiet_until`.
CREATE TABLE threshold_suggestion_decisions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id       bigint NOT NULL REFERENCES patients (id),
    rule_id          text NOT NULL CHECK (length(rule_id) BETWEEN 1 AND 64),
    decision         text NOT NULL CHECK (decision IN ('accepted', 'dismissed')),
    params           jsonb NOT NULL CHECK (jsonb_typeof(params) = 'object'),
    reason           text NOT NULL CHECK (length(btrim(reason)) BETWEEN 3 AND 1000),
    threshold_id     bigint REFERENCES thresholds (id),
    decided_by       bigint REFERENCES staff (id),
    decided_by_name  text NOT NULL,
    decided_at       timestamptz NOT NULL,
    quiet_until      timestamptz,
    CHECK ((decision = 'accepted') = (threshold_id IS NOT NULL))
);
CREATE INDEX threshold_suggestion_decisions_idx
    ON threshold_suggestion_decisions (patient_id, rule_id, decided_at DESC);

-- A comparison cohort of a team, imported as CSV: one row a person, keyed by NHS number.
CREATE TABLE comparison_members (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id      bigint NOT NULL REFERENCES teams (id),
    nhs_number   text NOT NULL CHECK (nhs_number_is_valid(nhs_number)),
    index_date   date NOT NULL,           -- the enrolment-equivalent date
    imported_by  text NOT NULL,
    imported_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team_id, nhs_number)
);

CREATE TABLE comparison_episodes (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id      bigint NOT NULL REFERENCES comparison_members (id) ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('emergency-admission', 'ae-attendance')),
    started_on     date NOT NULL,
    discharged_on  date CHECK (discharged_on >= started_on),
    UNIQUE (member_id, kind, started_on)
);
