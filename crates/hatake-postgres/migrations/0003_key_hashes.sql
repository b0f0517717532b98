-- Matching keys stored as their 64-bit hashes (hatake_domain::matching::key_hash) instead of
-- their text; the engine keys every lead again on the first start after this migration
-- (KEYS_VERSION 2).
DROP TABLE lead_keys;
CREATE TABLE lead_keys (
    key BIGINT NOT NULL,
    lead_id BIGINT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    PRIMARY KEY (key, lead_id)
);
CREATE INDEX lead_keys_lead ON lead_keys(lead_id);
