-- Scoring at speed (issue 5): the scorer keeps the states it folds in memory and writes them
-- back in key order from time to time, not with every step (the scores themselves are still
-- written with every step). `states_at` is the event id up to which the stored states are
-- complete: a scorer that starts (or takes the lease over) folds the events after it again.
-- Until now every step wrote its states, so they are complete up to the cursor.
ALTER TABLE scoring_cursor ADD COLUMN states_at INTEGER NOT NULL DEFAULT 0;
UPDATE scoring_cursor SET states_at = event_id;
