DROP TABLE signing_keys;
DROP TABLE refresh_tokens;
DROP TABLE sso_sessions;
ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;
