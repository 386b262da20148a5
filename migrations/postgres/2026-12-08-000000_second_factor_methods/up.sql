-- The second-factor methods a person holds besides a TOTP authenticator (which keeps its own
-- table for its secret and replay guard): mailed codes (`email`, to the account's address)
-- and SMS codes (`sms`, to `phone`, sealed by the secret box). One row a method and person.
CREATE TABLE second_factor_methods (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method TEXT NOT NULL,
    -- E.164 number, sealed; NULL for mailed codes
    phone TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, method)
);

-- The method a person chose to be offered first at sign-in (`totp`, `email`, `sms`). No row:
-- the first one they hold, in keystep's order.
CREATE TABLE second_factor_preferences (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
