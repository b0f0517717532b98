-- Which lead a web visitor turned out to be (issue 4): set when an event names both, e.g. a
-- form sent from a tracked browser. The visitor's events, earlier and later, then show on the
-- lead's timeline; the events themselves are not changed.
CREATE TABLE visitor_leads (
    visitor_id TEXT PRIMARY KEY,
    lead_id BIGINT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    linked_at BIGINT NOT NULL
);
CREATE INDEX visitor_leads_lead ON visitor_leads(lead_id);
