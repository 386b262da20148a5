-- What each client may be given beyond signing people in: API scopes for client_credentials
-- (JSON array), refresh tokens that outlive the session (offline_access), introspection of
-- other clients' access tokens (a resource server), and the resource indicators (RFC 8707)
-- that name it as the audience of access tokens. Existing clients get none of these.
ALTER TABLE clients ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN offline_access BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN introspect BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE client_resources (
    -- an absolute URI; one resource server per URI
    uri TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE
);
CREATE INDEX client_resources_client ON client_resources (client_id);
