-- The (patient, metric, time) index carries each reading's value, unit and flags, so the
-- caseload's latest values, its 7-day trend and adherence (api/queries/caseload.py,
-- telehub/care/adherence.py) are index-only scans: readings arrive in time order, so one
-- patient's readings of a week lie on as many heap pages as there are readings. The index
-- keeps its name and its key; it is built before the old one goes, so reads always have one.
-- Where the server cannot build it (a TimescaleDB hypertable with compressed chunks on a
-- version without covering indexes there), the old index stays and a notice says so.
DO $$
BEGIN
    CREATE INDEX readings_patient_metric_time_cover_idx
        ON readings (patient_id, metric, time DESC) INCLUDE (value, unit, flags);
    DROP INDEX readings_patient_metric_time_idx;
    ALTER INDEX readings_patient_metric_time_cover_idx
        RENAME TO readings_patient_metric_time_idx;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'readings_patient_metric_time_idx kept without INCLUDE: %', SQLERRM;
END $$;
