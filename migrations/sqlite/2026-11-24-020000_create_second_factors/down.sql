DROP TABLE mfa_reset_requests;
DROP TABLE recovery_codes;
DROP TABLE totp_bindings;
