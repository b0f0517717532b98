-- Ingestion speed (issue 4): the lead index of the event log is split into buckets of 2^18
-- consecutive ids, so that appends touch only the newest bucket's part of it instead of one
-- random page per event (hatake-sqlite/src/events.rs explains, BENCHMARKS.md measures). A
-- lead's timeline reads each bucket's range; a lookup by lead alone skips through the buckets.
-- Anonymous events (no lead) are not in this index: the visitor index has them.
ALTER TABLE events ADD COLUMN bucket INTEGER NOT NULL DEFAULT 0;
UPDATE events SET bucket = id >> 18;
DROP INDEX events_lead;
-- (The row id ends every index entry: it orders events of the same time, as `id` did.)
CREATE INDEX events_lead ON events(bucket, lead_id, occurred_at) WHERE lead_id IS NOT NULL;
