-- Newsletters (issue 16): a template to a segment's subscribed members, now or later, with an
-- optional A/B test on a sample; a row per recipient (variant, when recorded in the outbox,
-- first open and click, bounce, complaint); unique clicks per link; and the suppression list
-- that no marketing mail reaches.
CREATE TABLE newsletters (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    template_id INTEGER NOT NULL REFERENCES mail_templates(id),
    segment_id INTEGER REFERENCES segments(id),
    topic TEXT NOT NULL,
    variant_template_id INTEGER REFERENCES mail_templates(id),
    variant_subject TEXT,
    sample_percent INTEGER NOT NULL DEFAULT 0,
    ab_metric TEXT NOT NULL DEFAULT 'opens',
    ab_wait_hours INTEGER NOT NULL DEFAULT 4,
    per_hour INTEGER,
    status TEXT NOT NULL,
    scheduled_at INTEGER,
    started_at INTEGER,
    decide_at INTEGER,
    finished_at INTEGER,
    winner TEXT,
    base_url TEXT NOT NULL DEFAULT '',
    recipients INTEGER NOT NULL DEFAULT 0,
    cursor INTEGER NOT NULL DEFAULT 0,
    queued INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    created_by INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX newsletters_status ON newsletters(status, scheduled_at);

CREATE TABLE newsletter_recipients (
    newsletter_id INTEGER NOT NULL REFERENCES newsletters(id) ON DELETE CASCADE,
    lead_id INTEGER NOT NULL,
    variant TEXT NOT NULL,
    outbox_key TEXT NOT NULL,
    queued_at INTEGER,
    opened_at INTEGER,
    clicked_at INTEGER,
    bounce TEXT,
    complained_at INTEGER,
    PRIMARY KEY (newsletter_id, lead_id)
);
CREATE INDEX newsletter_recipients_lead ON newsletter_recipients(lead_id, queued_at);
CREATE INDEX newsletter_recipients_key ON newsletter_recipients(outbox_key);

CREATE TABLE newsletter_clicks (
    newsletter_id INTEGER NOT NULL REFERENCES newsletters(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    lead_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (newsletter_id, url, lead_id)
);

CREATE TABLE suppressions (
    email TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    detail TEXT,
    soft_bounces INTEGER NOT NULL DEFAULT 0,
    active BOOLEAN NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX suppressions_at ON suppressions(at);
