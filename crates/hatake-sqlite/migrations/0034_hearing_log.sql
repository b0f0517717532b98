-- Hearing sheets (issue 17): every change of a hearing item's value on a lead — what was
-- learned, by whom, when, how (a call, the lead's page, a CSV file) — while the value in force
-- stays in the lead's custom fields.
CREATE TABLE hearing_log (
    id INTEGER PRIMARY KEY,
    lead_id BIGINT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    field_key TEXT NOT NULL,
    value TEXT,
    previous TEXT,
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    call_id BIGINT REFERENCES calls(id) ON DELETE SET NULL,
    channel TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX hearing_log_lead ON hearing_log(lead_id, at);
