-- hatake on SQLite: the first schema. Times are integer milliseconds since the epoch (UTC).

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'marketer', 'inside_sales', 'field_sales')),
    locale TEXT NOT NULL DEFAULT 'ja',
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);

CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE custom_fields (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    label_ja TEXT NOT NULL,
    label_en TEXT NOT NULL,
    kind TEXT NOT NULL,
    position INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    name_normalized TEXT NOT NULL,
    corporate_number TEXT UNIQUE,
    domains TEXT NOT NULL DEFAULT '',
    industry TEXT,
    employee_count INTEGER,
    annual_revenue INTEGER,
    prefecture TEXT,
    address TEXT,
    abm_tier TEXT,
    owner_id INTEGER REFERENCES users(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX accounts_name ON accounts(name_normalized, id);
CREATE INDEX accounts_prefecture ON accounts(prefecture, name_normalized, id);

CREATE TABLE leads (
    id INTEGER PRIMARY KEY,
    account_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
    company_name TEXT,
    family_name TEXT,
    given_name TEXT,
    family_name_kana TEXT,
    given_name_kana TEXT,
    email TEXT UNIQUE,
    phone TEXT,
    department TEXT,
    title TEXT,
    prefecture TEXT,
    address TEXT,
    source TEXT,
    owner_id INTEGER REFERENCES users(id),
    is_lead INTEGER NOT NULL,
    custom TEXT NOT NULL DEFAULT '{}',
    sort_name TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX leads_updated ON leads(updated_at, id);
CREATE INDEX leads_created ON leads(created_at, id);
CREATE INDEX leads_sort_name ON leads(sort_name, id);
CREATE INDEX leads_owner ON leads(owner_id, updated_at, id);
CREATE INDEX leads_kind ON leads(is_lead, updated_at, id);
CREATE INDEX leads_prefecture ON leads(prefecture, updated_at, id);
CREATE INDEX leads_account ON leads(account_id);

CREATE TABLE lead_products (
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (product_id, lead_id)
) WITHOUT ROWID;
CREATE INDEX lead_products_lead ON lead_products(lead_id, product_id);

-- Bigram index of each lead's name, reading, company, e-mail, phone and department
-- (see hatake_domain::text). rowid = leads.id.
CREATE VIRTUAL TABLE lead_search USING fts5(
    doc,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);
