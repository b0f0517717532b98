-- Scoring at speed (issue 5). Every write of a score used to move two index entries besides
-- the row: its place in the ranking (product, engagement) and in the due times. At a million
-- leads those index updates were most of the scorer's work per event and most of a decay pass.
--
-- Due times: a row's `due_at` is its next change by time only when that comes before the
-- cursor's `due_horizon` (else NULL, and the partial index has no entry for it). Most writes
-- push the next change months ahead, so they leave the index alone. When the horizon runs out
-- the scorer walks the table once, updating what is due and filling `due_at` up to the next
-- horizon (hatake_engine::scoring::decay_pass). A horizon of 0 makes the first pass do that.
--
-- Ranking: SQLite reads a product's scores in table order for a ranking (a few hundred
-- milliseconds at a million leads) instead of keeping an index that every score change moves.
DROP INDEX lead_scores_rank;
DROP INDEX lead_scores_due;
ALTER TABLE lead_scores ADD COLUMN due_at INTEGER;
CREATE INDEX lead_scores_due ON lead_scores(due_at) WHERE due_at IS NOT NULL;
ALTER TABLE scoring_cursor ADD COLUMN due_horizon INTEGER NOT NULL DEFAULT 0;
