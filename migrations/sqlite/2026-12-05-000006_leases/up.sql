-- Kept beside PostgreSQL's schema: one SQLite file has one server, which holds no lease.
CREATE TABLE node_leases (
    node TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL,
    epoch BIGINT NOT NULL
);
