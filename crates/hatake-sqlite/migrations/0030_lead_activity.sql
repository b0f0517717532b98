-- Segments read behaviour from a per-person activity summary instead of the event log (issue
-- 16): for each lead, kind of event and product (0: any product), the ten most recent times,
-- newest first, as fixed-width digits (14 each) (`hatake_domain::segment::Activity`), and the newest
-- event id taken in. "At least k times in the last N days" is then "the k-th time is in the
-- window": one row per person, found by the index on kind, product and the newest time. The
-- segment worker keeps it: it folds new events in, and builds a person's rows again from the
-- log when their events moved (merge, undo, a browser linked, an import undone).
CREATE TABLE lead_activity (
    lead_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    product_id INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    recent TEXT NOT NULL,
    upto INTEGER NOT NULL,
    PRIMARY KEY (lead_id, kind, product_id)
) WITHOUT ROWID;
CREATE INDEX lead_activity_window ON lead_activity (kind, product_id, last_at);

-- Leads whose rows are built again from the log at the worker's next step: whatever the
-- scorer is asked to fold again (merges, undos, import undos) and every browser linked.
CREATE TABLE activity_queue (lead_id INTEGER PRIMARY KEY);
-- (Before the insert: a lead still waiting for the scorer is queued again, which the insert
-- itself then ignores.)
CREATE TRIGGER scoring_queue_activity BEFORE INSERT ON scoring_queue
BEGIN
    INSERT OR IGNORE INTO activity_queue (lead_id) VALUES (NEW.lead_id);
END;
CREATE TRIGGER visitor_leads_linked_activity AFTER INSERT ON visitor_leads
BEGIN
    INSERT OR IGNORE INTO activity_queue (lead_id) VALUES (NEW.lead_id);
END;
CREATE TRIGGER visitor_leads_moved_activity AFTER UPDATE OF lead_id ON visitor_leads
BEGIN
    INSERT OR IGNORE INTO activity_queue (lead_id) VALUES (NEW.lead_id);
    INSERT OR IGNORE INTO activity_queue (lead_id) VALUES (OLD.lead_id);
END;
-- A deleted lead (merged into another, an import undone) leaves its segments at the next step;
-- its id may be given again (SQLite reuses the highest rowid), so its rows go with it.
CREATE TRIGGER leads_deleted_activity AFTER DELETE ON leads
BEGIN
    DELETE FROM lead_activity WHERE lead_id = OLD.id;
    INSERT OR IGNORE INTO activity_queue (lead_id) VALUES (OLD.id);
END;

-- SQLite gives a deleted event's id again when it was the highest: the segment worker reads
-- the log by id, so a delete at or below where it has read rewinds it.
CREATE TABLE segment_rewind (id INTEGER PRIMARY KEY CHECK (id = 1), rewind_to INTEGER);
INSERT INTO segment_rewind (id, rewind_to) VALUES (1, NULL);
CREATE TRIGGER events_deleted_segment_rewind AFTER DELETE ON events
BEGIN
    UPDATE segment_rewind SET rewind_to = MIN(COALESCE(rewind_to, OLD.id), OLD.id) WHERE id = 1;
END;
