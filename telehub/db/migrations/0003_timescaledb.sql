-- requires-extension: timescaledb
-- Applied only where the timescaledb extension is available (see telehub/migrate.py).
CREATE EXTENSION IF NOT EXISTS timescaledb;
DROP VIEW IF EXISTS readings_daily;
SELECT create_hypertable('readings', 'time', chunk_time_interval => INTERVAL '7 days',
                         migrate_data => true);
ALTER TABLE readings SET (timescaledb.compress,
                          timescaledb.compress_segmentby = 'patient_id, metric',
                          timescaledb.compress_orderby = 'time DESC');
SELECT add_compression_policy('readings', INTERVAL '30 days');
CREATE MATERIALIZED VIEW readings_daily
WITH (timescaledb.continuous) AS
    SELECT patient_id, metric, time_bucket(INTERVAL '1 day', time) AS day,
           min(value) AS min, max(value) AS max, avg(value) AS mean, count(*) AS n
    FROM readings
    GROUP BY patient_id, metric, time_bucket(INTERVAL '1 day', time)
WITH NO DATA;
SELECT add_continuous_aggregate_policy('readings_daily',
    start_offset => INTERVAL '400 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '15 minutes');
