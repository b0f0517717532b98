-- Tracked links (issue 4): /t/l/{code} records a visit and redirects to the target, keeping
-- the parameters it was called with (a link printed in a PDF, a QR code on a booth panel).
CREATE TABLE tracked_links (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    target_url TEXT NOT NULL,
    product_id INTEGER REFERENCES products(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL
);
