-- Segments (issue 16): saved definitions (JSON of hatake_domain::segment::Definition) and their
-- members, kept current by the runtime's segment worker. `version` counts the definition's
-- saves; `built_version` is the one the members were last rebuilt for.
CREATE TABLE segments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    definition TEXT NOT NULL,
    version INTEGER NOT NULL,
    built_version INTEGER NOT NULL DEFAULT 0,
    member_count INTEGER NOT NULL DEFAULT 0,
    refreshed_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by INTEGER,
    archived_at INTEGER
);

CREATE TABLE segment_members (
    segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    lead_id INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (segment_id, lead_id)
);
CREATE INDEX segment_members_lead ON segment_members(lead_id);
