-- Ingestion speed (issue 4): SQLite splits the event log's index by lead into buckets of
-- consecutive ids (its migration 10). PostgreSQL keeps one index by lead: it writes pages back
-- with its own checkpointer rather than at every commit. Nothing changes here; the number keeps
-- both backends' lists of migrations the same.
SELECT 1;
