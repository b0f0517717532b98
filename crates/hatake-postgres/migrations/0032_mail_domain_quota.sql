-- Per-domain sending limits counted in the database (issue 16), so that every process sending
-- from one database keeps to one limit: what went to each limited domain in each minute.
-- `last_grant` is how much the latest take got (computed from the count before it).
CREATE TABLE mail_domain_quota (
    domain TEXT NOT NULL,
    minute BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    last_grant BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (domain, minute)
);
