-- The mail topics an import subscribes everyone it names to (JSON array, issue 16), kept so that
-- a resumed import subscribes the rest.
ALTER TABLE imports ADD COLUMN subscribe TEXT;
