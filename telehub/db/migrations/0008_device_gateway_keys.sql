-- A Personal Health Gateway (PHD IG) often names the patient by a key of its own (its
-- Patient.identifier) rather than the NHS number. Staff map that key to a device for the
-- patient the device is assigned to; the mapping counts only while the device is still
-- assigned to that same patient, so reassigning a device never carries a key across.
CREATE TABLE device_gateway_keys (
    device_id   bigint PRIMARY KEY REFERENCES devices (id),
    patient_id  bigint NOT NULL REFERENCES patients (id),
    system      text CHECK (system IS NULL OR length(system) BETWEEN 1 AND 256),
    value       text NOT NULL CHECK (length(value) BETWEEN 1 AND 256),
    set_by      bigint REFERENCES staff (id),
    set_at      timestamptz NOT NULL DEFAULT now()
);
