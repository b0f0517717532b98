-- Scoring (issue 5); see the SQLite migration of the same number for what each table is.
-- PostgreSQL never reuses an identity value, so no rewind trigger is needed.
CREATE TABLE scoring_models (
    product_id BIGINT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    definition TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (product_id, version)
);

CREATE TABLE lead_scores (
    lead_id BIGINT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    model_version BIGINT NOT NULL,
    engagement BIGINT NOT NULL,
    fit BIGINT NOT NULL,
    next_change_at BIGINT,
    state BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (lead_id, product_id)
);
CREATE INDEX lead_scores_rank ON lead_scores(product_id, engagement, lead_id);
CREATE INDEX lead_scores_due ON lead_scores(next_change_at) WHERE next_change_at IS NOT NULL;

-- Fit scores follow changes of a lead's or its account's attributes.
CREATE INDEX accounts_updated ON accounts(updated_at, id);

CREATE TABLE scoring_queue (lead_id BIGINT PRIMARY KEY);

CREATE TABLE scoring_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    event_id BIGINT NOT NULL,
    rewind_to BIGINT,
    links_at BIGINT NOT NULL,
    leads_at BIGINT NOT NULL,
    accounts_at BIGINT NOT NULL
);
INSERT INTO scoring_cursor (id, event_id, links_at, leads_at, accounts_at)
    VALUES (1, (SELECT COALESCE(MAX(id), 0) FROM events), 0, 0, 0);

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
