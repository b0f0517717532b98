-- Alerts (issue 17): what a lead did that a rule says inside sales should hear of at once, for
-- its inside-sales owner (or the pool: user_id NULL), at most once per lead and rule per window
-- (the dedupe key holds the window). Mail and webhooks go through the outbox.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    rule_id TEXT NOT NULL,
    lead_id BIGINT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    product_id BIGINT REFERENCES products(id) ON DELETE SET NULL,
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    detail TEXT,
    event_id BIGINT,
    event_at BIGINT,
    at BIGINT NOT NULL,
    read_at BIGINT,
    dedupe_key TEXT NOT NULL UNIQUE
);
CREATE INDEX alerts_user ON alerts(user_id, id);
CREATE INDEX alerts_rule_lead ON alerts(rule_id, lead_id, at);
