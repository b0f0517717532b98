-- Bounces and complaints name our mail by its Message-ID (issue 16).
CREATE INDEX outbox_message_id ON outbox(message_id) WHERE message_id IS NOT NULL;
