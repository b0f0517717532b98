-- Offline events by import (issue 4): a list of people (a seminar's attendance, an exhibition's
-- scans) can record an event for each person it names. The event asked for (JSON of
-- hatake_domain::event::OfflineEvent) and how many were recorded.
ALTER TABLE imports ADD COLUMN event TEXT;
ALTER TABLE imports ADD COLUMN event_rows BIGINT NOT NULL DEFAULT 0;
