-- What an operator command wrote to the ephemeral store when that store is the server's own
-- memory (no Redis): the command cannot reach it, so it leaves its writes here and a running
-- server applies them within a second, in id order. A NULL value is a delete. A row goes when
-- what it wrote would have expired. Writers lock the table, so ids commit in order and a
-- server that remembers the last id it applied misses none.
CREATE TABLE ephemeral_relay (
    id BIGSERIAL PRIMARY KEY,
    store_key TEXT NOT NULL,
    value BYTEA,
    -- Unix milliseconds
    expires_at BIGINT NOT NULL
);
CREATE INDEX ephemeral_relay_expires ON ephemeral_relay (expires_at);
