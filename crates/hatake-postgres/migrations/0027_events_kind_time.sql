-- Segments (issue 16): a behaviour condition evaluated for every lead reads the events of one
-- kind in a window ("downloads in the last 30 days"), and the window's edge is found the same
-- way; without this index both read the whole log.
CREATE INDEX events_kind_time ON events(kind, occurred_at);
