-- Plain-PostgreSQL time index on readings. Harmless under TimescaleDB, which
-- adds its own per-chunk indexes in 0003.
CREATE INDEX readings_time_brin_idx ON readings USING brin (time);

-- Daily min/max/mean per patient and metric (UTC days). On TimescaleDB, 0003
-- replaces this view with a continuous aggregate of the same name and columns.
CREATE VIEW readings_daily AS
    SELECT patient_id, metric,
           date_bin(INTERVAL '1 day', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS day,
           min(value) AS min, max(value) AS max, avg(value) AS mean, count(*) AS n
    FROM readings
    GROUP BY patient_id, metric, 3;
