-- Whether the secret is sealed under its owner's id. Rows written before sealing named the
-- owner start FALSE; start-up reseals those and sets it, so later starts find nothing to do.
ALTER TABLE totp_bindings ADD COLUMN sealed_for_owner BOOLEAN NOT NULL DEFAULT FALSE;
