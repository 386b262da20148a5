ALTER TABLE totp_bindings DROP COLUMN sealed_for_owner;
