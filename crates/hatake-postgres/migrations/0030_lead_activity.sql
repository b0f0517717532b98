-- Segments read behaviour from a per-person activity summary instead of the event log (issue
-- 16): for each lead, kind of event and product (0: any product), the ten most recent times,
-- newest first, as fixed-width digits (14 each) (`hatake_domain::segment::Activity`), and the newest
-- event id taken in. "At least k times in the last N days" is then "the k-th time is in the
-- window": one row per person, found by the index on kind, product and the newest time. The
-- segment worker keeps it: it folds new events in, and builds a person's rows again from the
-- log when their events moved (merge, undo, a browser linked, an import undone).
CREATE TABLE lead_activity (
    lead_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    product_id BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    recent TEXT NOT NULL,
    upto BIGINT NOT NULL,
    PRIMARY KEY (lead_id, kind, product_id)
);
CREATE INDEX lead_activity_window ON lead_activity (kind, product_id, last_at);

-- Leads whose rows are built again from the log at the worker's next step: whatever the
-- scorer is asked to fold again (merges, undos, import undos) and every browser linked.
CREATE TABLE activity_queue (lead_id BIGINT PRIMARY KEY);
CREATE FUNCTION queue_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_queue (lead_id) VALUES (NEW.lead_id) ON CONFLICT DO NOTHING;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO activity_queue (lead_id) VALUES (OLD.lead_id) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NEW;
END;
$$;
-- (Before the insert: a lead still waiting for the scorer is queued again, which the insert
-- itself then ignores.)
CREATE TRIGGER scoring_queue_activity BEFORE INSERT ON scoring_queue
    FOR EACH ROW EXECUTE FUNCTION queue_activity();
CREATE TRIGGER visitor_leads_linked_activity AFTER INSERT ON visitor_leads
    FOR EACH ROW EXECUTE FUNCTION queue_activity();
CREATE TRIGGER visitor_leads_moved_activity AFTER UPDATE OF lead_id ON visitor_leads
    FOR EACH ROW EXECUTE FUNCTION queue_activity();
-- A deleted lead (merged into another, an import undone) leaves its segments at the next step.
CREATE FUNCTION forget_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM lead_activity WHERE lead_id = OLD.id;
    INSERT INTO activity_queue (lead_id) VALUES (OLD.id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER leads_deleted_activity AFTER DELETE ON leads
    FOR EACH ROW EXECUTE FUNCTION forget_activity();

-- PostgreSQL never gives an identity value again: nothing rewinds the segment worker (the
-- table is here so that both stores read it alike).
CREATE TABLE segment_rewind (id BIGINT PRIMARY KEY CHECK (id = 1), rewind_to BIGINT);
INSERT INTO segment_rewind (id, rewind_to) VALUES (1, NULL);
