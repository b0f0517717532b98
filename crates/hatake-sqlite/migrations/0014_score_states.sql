-- Scoring in bulk (issue 5). The folded state of a lead's score for a product moves out of
-- `lead_scores` into a table of its own: the rows that a decay pass, a fit change or a ranking
-- reads and rewrites become a few dozen bytes instead of a few hundred, and the states (written
-- only when events are folded) are read, not rewritten, by the decay pass. A row of one table
-- exists exactly when the same key has a row in the other (the store writes and deletes both).
CREATE TABLE score_states (
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    state BLOB NOT NULL,
    PRIMARY KEY (lead_id, product_id)
) WITHOUT ROWID;
INSERT INTO score_states (lead_id, product_id, state)
    SELECT lead_id, product_id, state FROM lead_scores ORDER BY lead_id, product_id;
ALTER TABLE lead_scores DROP COLUMN state;

-- Each scorer step looks for visitor links made since a time.
CREATE INDEX visitor_leads_linked ON visitor_leads(linked_at);
