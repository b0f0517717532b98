-- Scoring in bulk (issue 5): the folded state moves out of `lead_scores` into a table of its own;
-- see the SQLite migration of the same number.
CREATE TABLE score_states (
    lead_id BIGINT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    state BYTEA NOT NULL,
    PRIMARY KEY (lead_id, product_id)
);
INSERT INTO score_states (lead_id, product_id, state) SELECT lead_id, product_id, state FROM lead_scores;
ALTER TABLE lead_scores DROP COLUMN state;

CREATE INDEX visitor_leads_linked ON visitor_leads(linked_at);
