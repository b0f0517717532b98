-- Mail subscriptions (issue 16): per lead and topic (`general`, or `product:{id}`) the state —
-- subscribed or unsubscribed — with when and how (form, import, api, user, link, preferences,
-- complaint); no row means never asked. Every change is kept in subscription_history (no
-- foreign key: a consent record outlives a merge).
CREATE TABLE subscriptions (
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    topic TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    detail TEXT,
    by_user INTEGER,
    at INTEGER NOT NULL,
    PRIMARY KEY (lead_id, topic)
);

CREATE TABLE subscription_history (
    id INTEGER PRIMARY KEY,
    lead_id INTEGER NOT NULL,
    topic TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    detail TEXT,
    by_user INTEGER,
    at INTEGER NOT NULL
);
CREATE INDEX subscription_history_lead ON subscription_history(lead_id, at);

-- A marketing mail's topic: its hand-over is refused once the lead unsubscribed from it.
ALTER TABLE outbox ADD COLUMN topic TEXT;
