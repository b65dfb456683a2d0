-- Access: API tokens and the audit log of every mutating call.

CREATE TABLE api_tokens (
    -- Public id, shown by `hive token list` and used to revoke; never the secret.
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT,
    -- viewer, operator or admin
    role TEXT NOT NULL,
    -- SHA-256 of the secret, hex: the secret itself is shown once and never stored. A fast hash
    -- suffices because secrets are 256 random bits, not passwords.
    digest TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE audit_log (
    -- Insertion order is the order the store committed the entries in.
    id INTEGER PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    -- The token id, or `anonymous` when the API runs without tokens (loopback only).
    actor TEXT NOT NULL,
    role TEXT,
    client TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    -- ok, denied (401/403/429), rejected (other 4xx) or failed (5xx)
    outcome TEXT NOT NULL
);
-- `GET /api/v1/audit?actor=` reads one actor's entries in order.
CREATE INDEX audit_log_actor ON audit_log (actor, id);
