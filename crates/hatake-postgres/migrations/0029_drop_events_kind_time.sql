-- Databases that applied the first form of migration 27 lose its index on events (kind,
-- occurred_at): it halved ingestion (see migration 27).
DROP INDEX IF EXISTS events_kind_time;
