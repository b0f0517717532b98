-- A mail's content apart from its outbox row (issue 16): the row changes three times on its way
-- (claimed, handed over, sent) and was rewritten whole with its content each time — most of
-- what a sender's commit wrote. The content is written once and read when the row is claimed.
CREATE TABLE outbox_payloads (
    outbox_id BIGINT PRIMARY KEY REFERENCES outbox(id) ON DELETE CASCADE,
    payload TEXT NOT NULL
);
INSERT INTO outbox_payloads (outbox_id, payload) SELECT id, payload FROM outbox;
ALTER TABLE outbox DROP COLUMN payload;
