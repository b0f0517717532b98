-- The event log (issue 4): what leads, and visitors not known yet, did. Rows are appended and
-- never changed; a deleted lead takes its events with it.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    lead_id INTEGER REFERENCES leads(id) ON DELETE CASCADE,
    visitor_id TEXT,
    product_id INTEGER REFERENCES products(id) ON DELETE SET NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    source TEXT,
    name TEXT,
    properties TEXT NOT NULL DEFAULT '{}',
    idempotency_key TEXT,
    CHECK (lead_id IS NOT NULL OR visitor_id IS NOT NULL)
);
-- A lead's timeline, newest first.
CREATE INDEX events_lead ON events(lead_id, occurred_at, id);
-- A visitor's history, to join it to the lead the visitor turns out to be.
CREATE INDEX events_visitor ON events(visitor_id, occurred_at) WHERE visitor_id IS NOT NULL;
CREATE UNIQUE INDEX events_idempotency_key ON events(idempotency_key) WHERE idempotency_key IS NOT NULL;
