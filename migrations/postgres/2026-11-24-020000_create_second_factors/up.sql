-- Second factors: TOTP bindings, recovery codes, and MFA reset requests filed from the login.
CREATE TABLE totp_bindings (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- the shared secret, sealed by the secret box
    secret TEXT NOT NULL,
    -- the last accepted time step: a code is never accepted twice (RFC 6238 section 5.2)
    last_step BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- keyed hash (HMAC-SHA-256) of the normalised code
    code_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

CREATE TABLE mfa_reset_requests (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- pending, approved or denied
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX mfa_reset_requests_status ON mfa_reset_requests (status);
