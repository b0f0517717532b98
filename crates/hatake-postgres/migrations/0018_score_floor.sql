-- Scores never below zero (issue 15): a decay rule's clock now starts at a lead's first award
-- for the product, and the points that stay are floored at zero unless the model allows
-- negative scores. Stored scores and states were folded by the old rule: forgetting which
-- model versions they were computed with makes the scorer recompute every product from the
-- event log at its next step.
DELETE FROM settings WHERE key = 'scoring.rescored';
