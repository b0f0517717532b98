-- Web forms (issue 4). A form's definition is JSON (hatake_domain::form::FormDefinition); each
-- saved change is a new version, kept, and a submission records the version it answered.
CREATE TABLE forms (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE form_versions (
    form_id INTEGER NOT NULL REFERENCES forms(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (form_id, version)
);

-- Every accepted submission, raw, stored before it is processed: one whose processing fails
-- stays 'failed' with its error and is retried ('pending' → 'done' | 'failed'; 'spam' for a
-- filled honeypot). A form with submissions cannot be deleted, only switched off.
CREATE TABLE form_submissions (
    id INTEGER PRIMARY KEY,
    form_id INTEGER NOT NULL REFERENCES forms(id),
    form_version INTEGER NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    visitor_id TEXT,
    page_url TEXT,
    referrer TEXT,
    ip TEXT,
    user_agent TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at INTEGER,
    lead_id INTEGER REFERENCES leads(id) ON DELETE SET NULL,
    outcome TEXT,
    event_id INTEGER,
    received_at INTEGER NOT NULL,
    processed_at INTEGER
);
CREATE INDEX form_submissions_form ON form_submissions(form_id, id);
CREATE INDEX form_submissions_due ON form_submissions(next_attempt_at) WHERE status IN ('pending', 'failed');
