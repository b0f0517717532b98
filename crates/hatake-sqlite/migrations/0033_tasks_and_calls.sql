-- Inside sales (issue 17): tasks (a call, mail, fax, visit or other thing to do about a lead,
-- owned by a person or left to the pool) and the calls made, each with its outcome code, the
-- KPI bucket the code counts in (call, connect, contact) and its result.
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    lead_id BIGINT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    product_id BIGINT REFERENCES products(id) ON DELETE SET NULL,
    owner_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    note TEXT,
    due_at BIGINT NOT NULL,
    sla_due_at BIGINT,
    priority BIGINT NOT NULL DEFAULT 2,
    cause TEXT NOT NULL,
    cause_key TEXT UNIQUE,
    status TEXT NOT NULL DEFAULT 'open',
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    closed_at BIGINT,
    closed_by BIGINT REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX tasks_open ON tasks(status, owner_id, due_at);
CREATE INDEX tasks_lead ON tasks(lead_id, status, due_at);

CREATE TABLE calls (
    id INTEGER PRIMARY KEY,
    lead_id BIGINT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    product_id BIGINT REFERENCES products(id) ON DELETE SET NULL,
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    bucket TEXT NOT NULL,
    result TEXT,
    recall_at BIGINT,
    note TEXT,
    task_id BIGINT REFERENCES tasks(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX calls_lead ON calls(lead_id, at);
CREATE INDEX calls_user ON calls(user_id, at);
CREATE INDEX calls_at ON calls(at);
