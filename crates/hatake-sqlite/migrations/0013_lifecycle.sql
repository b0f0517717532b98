-- Qualification and the sales process (issue 5).
-- Per-product configuration other than scoring models, versioned: `kind` is `mql_policy`
-- (hatake_domain::qualification::MqlPolicy) or `process` (hatake_domain::lifecycle::ProcessConfig).
CREATE TABLE product_configs (
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (product_id, kind, version)
);

-- Where each lead stands per product (hatake_domain::lifecycle::Stage); no row means `lead`
-- (or a list entry). `sla_due_at` is when an MQL breaches its service level.
CREATE TABLE lead_stages (
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    since INTEGER NOT NULL,
    policy_version INTEGER,
    sla_due_at INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (lead_id, product_id)
);
CREATE INDEX lead_stages_queue ON lead_stages(product_id, stage, since);

-- Every move: who, when, why, and which policy version (and mode) qualified it. No foreign key
-- on the lead: a merge moves the rows to the survivor, and history outlives a deleted lead.
CREATE TABLE stage_history (
    id INTEGER PRIMARY KEY,
    lead_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    from_stage TEXT,
    to_stage TEXT NOT NULL,
    at INTEGER NOT NULL,
    by_user INTEGER REFERENCES users(id) ON DELETE SET NULL,
    reason TEXT,
    note TEXT,
    policy_version INTEGER,
    mode TEXT,
    opportunity_id INTEGER,
    detail TEXT
);
CREATE INDEX stage_history_lead ON stage_history(lead_id, at);
CREATE INDEX stage_history_product ON stage_history(product_id, to_stage, at);

-- Opportunities (商談): a stage defined by an action, amount, expected close, and when closed,
-- won or lost with a reason; the competitor's product and its install date give a re-approach
-- date (replacement cycle).
CREATE TABLE opportunities (
    id INTEGER PRIMARY KEY,
    lead_id INTEGER REFERENCES leads(id) ON DELETE SET NULL,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    account_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    stage_key TEXT NOT NULL,
    status TEXT NOT NULL,
    amount INTEGER,
    expected_close_on TEXT,
    reason TEXT,
    note TEXT,
    competitor TEXT,
    competitor_installed_on TEXT,
    reapproach_on TEXT,
    owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at INTEGER
);
CREATE INDEX opportunities_board ON opportunities(product_id, status, stage_key);
CREATE INDEX opportunities_lead ON opportunities(lead_id);
CREATE INDEX opportunities_account ON opportunities(account_id, product_id, status);
CREATE INDEX opportunities_reapproach ON opportunities(reapproach_on) WHERE reapproach_on IS NOT NULL;
