-- Meeting booking (issue 4): which reps handle which products, each rep's weekly working hours
-- (JSON of hatake_domain::booking::WeeklyHours), and booked meetings. A rep's booked meetings
-- never overlap: a booking checks inside its write transaction (and no two start together).
CREATE TABLE rep_products (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, product_id)
);
CREATE INDEX rep_products_product ON rep_products(product_id);

CREATE TABLE rep_calendars (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    working_hours TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE meetings (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    lead_id INTEGER REFERENCES leads(id) ON DELETE SET NULL,
    product_id INTEGER REFERENCES products(id) ON DELETE SET NULL,
    form_id INTEGER REFERENCES forms(id) ON DELETE SET NULL,
    submission_id INTEGER REFERENCES form_submissions(id) ON DELETE SET NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    cancelled_at INTEGER,
    CHECK (ends_at > starts_at)
);
CREATE UNIQUE INDEX meetings_rep_slot ON meetings(user_id, starts_at) WHERE status = 'booked';
CREATE INDEX meetings_starts ON meetings(starts_at) WHERE status = 'booked';
CREATE INDEX meetings_lead ON meetings(lead_id);
CREATE INDEX meetings_submission ON meetings(submission_id);

-- The secret that lets the person who sent a form book a meeting for that submission.
ALTER TABLE form_submissions ADD COLUMN booking_token TEXT;
CREATE UNIQUE INDEX form_submissions_booking_token ON form_submissions(booking_token) WHERE booking_token IS NOT NULL;
