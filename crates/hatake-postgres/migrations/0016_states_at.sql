-- Scoring at speed (issue 5): `states_at` is the event id up to which the stored states are
-- complete; the scorer writes the states it holds in memory back from time to time (see the
-- SQLite migration of the same number).
ALTER TABLE scoring_cursor ADD COLUMN states_at BIGINT NOT NULL DEFAULT 0;
UPDATE scoring_cursor SET states_at = event_id;
