DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE clients;
DROP TABLE users;
