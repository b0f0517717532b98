-- Scoring at speed (issue 5): a row's `due_at` is its next change by time only when that comes
-- before the cursor's `due_horizon`, so most score writes leave the index of due times alone
-- (see the SQLite migration of the same number). PostgreSQL keeps its ranking index.
DROP INDEX lead_scores_due;
ALTER TABLE lead_scores ADD COLUMN due_at BIGINT;
CREATE INDEX lead_scores_due ON lead_scores(due_at) WHERE due_at IS NOT NULL;
ALTER TABLE scoring_cursor ADD COLUMN due_horizon BIGINT NOT NULL DEFAULT 0;
