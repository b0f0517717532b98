-- Imports that never abort (issue 15): after a batch is written, the import records the
-- offline events of its people and links its new leads to the company master, each in a
-- transaction of its own. `settled_rows` counts the rows whose events and links are done, so
-- an import resumed after a crash redoes those steps for the rows between it and `total_rows`.
ALTER TABLE imports ADD COLUMN settled_rows INTEGER NOT NULL DEFAULT 0;
UPDATE imports SET settled_rows = total_rows;
