-- A merge moves the merged lead's events and web visitors to the survivor (issue 4); undoing
-- it moves them back. JSON: {"events": [ids], "visitors": [visitor ids]}.
ALTER TABLE lead_merges ADD COLUMN moved_events TEXT NOT NULL DEFAULT '{}';
