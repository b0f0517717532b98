-- Toss-up and routing (issue 17): a lead inside sales passes to field sales, with its
-- hand-over note and hearing sheet; the rep routing chose (or none: any field rep may take it)
-- accepts or rejects it within an SLA; every routing decision is kept with the rule that
-- decided and who was passed over why; and the absence calendar routing reads.
CREATE TABLE tossups (
    id INTEGER PRIMARY KEY,
    lead_id BIGINT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    from_user BIGINT REFERENCES users(id) ON DELETE SET NULL,
    to_user BIGINT REFERENCES users(id) ON DELETE SET NULL,
    note TEXT NOT NULL,
    hearing TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'pending',
    sla_due_at BIGINT,
    created_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    reason TEXT,
    reason_note TEXT,
    back_to TEXT
);
CREATE INDEX tossups_to ON tossups(to_user, status, id);
CREATE INDEX tossups_from ON tossups(from_user, id);
CREATE INDEX tossups_due ON tossups(status, sla_due_at);
CREATE INDEX tossups_lead ON tossups(lead_id, product_id);
CREATE INDEX tossups_created ON tossups(created_at);

CREATE TABLE routing_decisions (
    id INTEGER PRIMARY KEY,
    tossup_id BIGINT NOT NULL REFERENCES tossups(id) ON DELETE CASCADE,
    lead_id BIGINT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    cause TEXT NOT NULL,
    route TEXT NOT NULL,
    chosen_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    skipped TEXT NOT NULL DEFAULT '[]',
    at BIGINT NOT NULL
);
CREATE INDEX routing_decisions_tossup ON routing_decisions(tossup_id, id);
CREATE INDEX routing_decisions_chosen ON routing_decisions(chosen_id, at);

CREATE TABLE absences (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    note TEXT,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX absences_ends ON absences(ends_on, user_id);
