-- Readings received per patient, metric and local day of Europe/London (count, min, max,
-- mean), low-quality readings left out: what adherence counts (telehub.care.adherence), so
-- team statistics over long periods can read a day's count instead of its readings.
--
-- Europe/London is written here, not read from TELEHUB_TIMEZONE: a migration runs once per
-- database, and a continuous aggregate's buckets cannot change after it is made, while the
-- setting is read by each process at start. Queries read this aggregate only when the zone
-- they count days in is telehub.care.adherence.RECEIVED_DAILY_ZONE (this zone); in any
-- other zone they count from the readings. The flags are codes.LOW_QUALITY_FLAGS.
--
-- Both paths in one file: a `requires-extension` migration is skipped whole on plain
-- PostgreSQL, and the plain path needs the view. Where readings is a hypertable the view is
-- replaced by a continuous aggregate of the same name and columns, with real-time
-- aggregation on and a refresh policy like readings_daily's (0003, 0010); a database whose
-- readings stayed a plain table (0003 skipped) keeps the view.
CREATE VIEW readings_received_daily AS
    SELECT patient_id, metric, date_trunc('day', time, 'Europe/London') AS day,
           min(value) AS min, max(value) AS max, avg(value) AS mean, count(*) AS n
    FROM readings
    WHERE NOT (flags && ARRAY['invalid', 'low-quality']::text[])
    GROUP BY patient_id, metric, 3;

DO $$
BEGIN
    IF to_regclass('timescaledb_information.hypertables') IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                   WHERE hypertable_schema = current_schema()
                     AND hypertable_name = 'readings') THEN
            DROP VIEW readings_received_daily;
            CREATE MATERIALIZED VIEW readings_received_daily
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
                SELECT patient_id, metric,
                       time_bucket(INTERVAL '1 day', time, 'Europe/London') AS day,
                       min(value) AS min, max(value) AS max, avg(value) AS mean,
                       count(*) AS n
                FROM readings
                WHERE NOT (flags && ARRAY['invalid', 'low-quality']::text[])
                GROUP BY patient_id, metric,
                         time_bucket(INTERVAL '1 day', time, 'Europe/London')
            WITH NO DATA;
            PERFORM add_continuous_aggregate_policy('readings_received_daily',
                start_offset => INTERVAL '400 days', end_offset => INTERVAL '1 hour',
                schedule_interval => INTERVAL '15 minutes');
        END IF;
    END IF;
END
$$;
