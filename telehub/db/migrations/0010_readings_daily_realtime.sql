-- requires-extension: timescaledb
-- Real-time aggregation on readings_daily: a query sees the materialised days plus, bucketed
-- from readings at query time, everything after the last refresh. (TimescaleDB 2.13 and
-- later create continuous aggregates without it.) A database whose 0003 was skipped, because
-- TimescaleDB came to the server later, keeps its plain view and is left as it is.
DO $$
BEGIN
    IF to_regclass('timescaledb_information.continuous_aggregates') IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates
                   WHERE view_schema = 'public' AND view_name = 'readings_daily') THEN
            ALTER MATERIALIZED VIEW readings_daily SET (timescaledb.materialized_only = false);
        END IF;
    END IF;
END
$$;
