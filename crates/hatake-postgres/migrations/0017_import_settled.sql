-- Imports that never abort (issue 15): `settled_rows` counts the rows whose offline events and
-- company links are written (see the SQLite migration of the same number).
ALTER TABLE imports ADD COLUMN settled_rows BIGINT NOT NULL DEFAULT 0;
UPDATE imports SET settled_rows = total_rows;
