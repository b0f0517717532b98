-- Scoring (issue 5). A product's scoring model is a JSON document (hatake_domain::scoring),
-- versioned: every save is a new row, the highest version is the one in force.
CREATE TABLE scoring_models (
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (product_id, version)
);

-- Derived state, recomputable from the event log (`hatake rescore`): per lead and product, the
-- engagement score now, the fit score, when the score next changes by time alone (decay,
-- expiry), and the folded state (hatake_domain::scoring::fold::ScoreState, binary).
CREATE TABLE lead_scores (
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    model_version INTEGER NOT NULL,
    engagement INTEGER NOT NULL,
    fit INTEGER NOT NULL,
    next_change_at INTEGER,
    state BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (lead_id, product_id)
) WITHOUT ROWID;
CREATE INDEX lead_scores_rank ON lead_scores(product_id, engagement, lead_id);
CREATE INDEX lead_scores_due ON lead_scores(next_change_at) WHERE next_change_at IS NOT NULL;

-- Leads whose events changed other than by an append (a merge moved them, an undo removed
-- them): the scorer folds each again from the log.
-- Fit scores follow changes of a lead's or its account's attributes.
CREATE INDEX accounts_updated ON accounts(updated_at, id);

CREATE TABLE scoring_queue (lead_id INTEGER PRIMARY KEY);

-- How far the scorer has read: the event log (by id), visitor links, lead and account changes.
-- `rewind_to` is the lowest id of an event deleted after it was read: SQLite gives a new row
-- the highest id plus one, so after the newest events are deleted new ones reuse their ids.
CREATE TABLE scoring_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    event_id INTEGER NOT NULL,
    rewind_to INTEGER,
    links_at INTEGER NOT NULL,
    leads_at INTEGER NOT NULL,
    accounts_at INTEGER NOT NULL
);
INSERT INTO scoring_cursor (id, event_id, links_at, leads_at, accounts_at)
    VALUES (1, (SELECT COALESCE(MAX(id), 0) FROM events), 0, 0, 0);
CREATE TRIGGER events_deleted_rewind AFTER DELETE ON events
    WHEN OLD.id <= (SELECT event_id FROM scoring_cursor WHERE id = 1)
BEGIN
    UPDATE scoring_cursor SET rewind_to = MIN(COALESCE(rewind_to, OLD.id), OLD.id) WHERE id = 1;
END;

-- Work that one process at a time does (the scorer): whoever holds the row until expires_at.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
