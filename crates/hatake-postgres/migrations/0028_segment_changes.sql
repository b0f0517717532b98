-- The segment worker looks for changes since its last step in the tables segments read
-- (issue 16): each look is a range on time, not a scan. (Scores are read by time only when a
-- segment has a score condition; their table is left without an index, which every score
-- write would pay for; browsers linked to leads are indexed by time since migration 14.)
CREATE INDEX lead_products_created ON lead_products(created_at);
CREATE INDEX subscriptions_at ON subscriptions(at);
CREATE INDEX lead_stages_updated ON lead_stages(updated_at);
