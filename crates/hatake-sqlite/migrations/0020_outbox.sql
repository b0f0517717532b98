-- The outbox (issue 16): every side effect is recorded with an idempotency key from its cause
-- before it is sent (hatake_store::OutboxStore). No foreign key on the lead: what was sent
-- outlives a deleted lead.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    lead_id INTEGER,
    recipient TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at INTEGER NOT NULL,
    claimed_by TEXT,
    claimed_until INTEGER,
    handed_at INTEGER,
    sent_at INTEGER,
    last_code INTEGER,
    last_error TEXT,
    message_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox(kind, status, due_at);
CREATE INDEX outbox_status ON outbox(status, id);
CREATE INDEX outbox_lead ON outbox(lead_id);

-- Every attempt: sent, retry (a transient refusal) or failed (a permanent one), with the
-- server's code and words.
CREATE TABLE outbox_attempts (
    id INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    code INTEGER,
    detail TEXT
);
CREATE INDEX outbox_attempts_row ON outbox_attempts(outbox_id, at);
