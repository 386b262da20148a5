-- The OpenID provider's durable state: SSO sessions, refresh tokens, signing keys.
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256';

CREATE TABLE sso_sessions (
    -- public id: the `sid` claim
    id TEXT PRIMARY KEY NOT NULL,
    -- SHA-256 of the cookie value; the cookie value itself is never stored
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- last completed interactive sign-in (step-up included)
    auth_time BIGINT NOT NULL,
    password_verified_at BIGINT NOT NULL,
    second_factor_verified_at BIGINT,
    second_factor_method TEXT,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX sso_sessions_user ON sso_sessions (user_id);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    -- every rotation of one grant shares the family; reuse revokes the family
    family_id TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- the SSO session it ends with; NULL for offline_access tokens
    session_id TEXT,
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    acr TEXT NOT NULL,
    amr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    -- PKCS#8 DER, sealed by the secret box
    private_key TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
