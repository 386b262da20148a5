-- When a key starts signing: a rotated-in key is published first and signs only once relying
-- parties that cache the JWKS have seen it. NULL: from its creation.
ALTER TABLE signing_keys ADD COLUMN signs_from BIGINT;
