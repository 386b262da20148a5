DROP TABLE client_resources;
ALTER TABLE clients DROP COLUMN introspect;
ALTER TABLE clients DROP COLUMN offline_access;
ALTER TABLE clients DROP COLUMN scopes;
