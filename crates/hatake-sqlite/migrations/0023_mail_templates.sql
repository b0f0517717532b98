-- Mail templates (issue 16): marketing and transactional mail, layouts and partials, by name;
-- the content of every saved version is kept (subject, HTML, text) and the template points at
-- the current one.
CREATE TABLE mail_templates (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    product_id INTEGER REFERENCES products(id) ON DELETE SET NULL,
    charset TEXT NOT NULL DEFAULT 'utf-8',
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by INTEGER,
    archived_at INTEGER
);

CREATE TABLE mail_template_versions (
    template_id INTEGER NOT NULL REFERENCES mail_templates(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    subject TEXT NOT NULL,
    html TEXT NOT NULL,
    text TEXT NOT NULL,
    created_by INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (template_id, version)
);
