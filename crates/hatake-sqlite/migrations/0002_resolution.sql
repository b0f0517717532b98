-- Name-matching, imports and department classes (issue 3).

-- The class a department's free text maps to (hatake_domain::department), kept with the lead
-- so the list can filter by it; recomputed when the dictionary changes.
ALTER TABLE leads ADD COLUMN department_class TEXT;
CREATE INDEX leads_department_class ON leads(department_class, updated_at, id);

-- Blocking keys of the matcher (hatake_domain::matching::lead): one row per key and lead.
CREATE TABLE lead_keys (
    key TEXT NOT NULL,
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    PRIMARY KEY (key, lead_id)
) WITHOUT ROWID;
CREATE INDEX lead_keys_lead ON lead_keys(lead_id);

CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('leads', 'companies')),
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'undone')),
    file_name TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    encoding TEXT NOT NULL,
    source TEXT,
    product_id INTEGER REFERENCES products(id) ON DELETE SET NULL,
    mapping TEXT NOT NULL,
    -- The file's header row (JSON array), for the rejected-rows download.
    headers TEXT NOT NULL DEFAULT '[]',
    total_rows INTEGER NOT NULL DEFAULT 0,
    created_rows INTEGER NOT NULL DEFAULT 0,
    merged_rows INTEGER NOT NULL DEFAULT 0,
    unchanged_rows INTEGER NOT NULL DEFAULT 0,
    review_rows INTEGER NOT NULL DEFAULT 0,
    rejected_rows INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_by INTEGER REFERENCES users(id),
    created_at INTEGER NOT NULL,
    -- When the running import last wrote a batch: one with no progress for long was stopped.
    progress_at INTEGER,
    finished_at INTEGER,
    undone_at INTEGER,
    undone_by INTEGER REFERENCES users(id)
);
CREATE INDEX imports_file ON imports(file_sha256);

-- Where a lead's values came from: one row per incoming record that created, changed or
-- confirmed a lead (an import row, a form, an API or UI write). `before` is the lead as it was
-- when this record changed it, for undo.
CREATE TABLE lead_sources (
    id INTEGER PRIMARY KEY,
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    import_id INTEGER REFERENCES imports(id) ON DELETE CASCADE,
    line INTEGER,
    channel TEXT NOT NULL,
    source TEXT,
    outcome TEXT NOT NULL,
    fields TEXT NOT NULL,
    -- Hash of channel, source and fields: the same record taken twice is recognised.
    fingerprint TEXT NOT NULL,
    before TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX lead_sources_lead ON lead_sources(lead_id, id);
CREATE INDEX lead_sources_import ON lead_sources(import_id, line);

-- Rows an import could not take, with the reasons, to download, fix and import again.
CREATE TABLE import_rejects (
    import_id INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    line INTEGER NOT NULL,
    fields TEXT NOT NULL,
    problems TEXT NOT NULL,
    PRIMARY KEY (import_id, line)
) WITHOUT ROWID;

-- Possible duplicates a person decides on: two leads ('lead') or a lead and a company ('account').
-- No foreign keys on the two sides: a decided review stays on record after a merge removes a
-- lead, and an undone merge brings that lead back under the same id.
CREATE TABLE match_reviews (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('lead', 'account')),
    lead_id INTEGER NOT NULL,
    candidate_id INTEGER NOT NULL,
    score REAL NOT NULL,
    evidence TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'merged', 'linked', 'distinct')),
    import_id INTEGER REFERENCES imports(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    decided_by INTEGER REFERENCES users(id),
    decided_at INTEGER,
    UNIQUE (kind, lead_id, candidate_id)
);
CREATE INDEX match_reviews_status ON match_reviews(status, id);
CREATE INDEX match_reviews_candidate ON match_reviews(candidate_id);

-- Every merge of two leads, with what is needed to undo it.
CREATE TABLE lead_merges (
    id INTEGER PRIMARY KEY,
    survivor_id INTEGER NOT NULL,
    merged_id INTEGER NOT NULL,
    survivor_before TEXT NOT NULL,
    merged_lead TEXT NOT NULL,
    moved_sources TEXT NOT NULL,
    review_id INTEGER,
    score REAL,
    decided_by INTEGER REFERENCES users(id),
    created_at INTEGER NOT NULL,
    survivor_updated_at INTEGER NOT NULL,
    undone_at INTEGER,
    undone_by INTEGER REFERENCES users(id)
);
CREATE INDEX lead_merges_survivor ON lead_merges(survivor_id, id);
CREATE INDEX lead_merges_merged ON lead_merges(merged_id);
