-- The MQL queue sorted by SLA deadline, and its breaches counted, by index (issue 15).
CREATE INDEX lead_stages_sla ON lead_stages(product_id, stage, sla_due_at);
