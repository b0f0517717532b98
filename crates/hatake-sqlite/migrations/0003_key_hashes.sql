-- Matching keys stored as their 64-bit hashes (hatake_domain::matching::key_hash) instead of
-- their text: a third of the size, so a large import rewrites fewer pages of this index. The
-- engine keys every lead again on the first start after this migration (KEYS_VERSION 2).
DROP TABLE lead_keys;
CREATE TABLE lead_keys (
    key INTEGER NOT NULL,
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    PRIMARY KEY (key, lead_id)
) WITHOUT ROWID;
CREATE INDEX lead_keys_lead ON lead_keys(lead_id);
