-- Hive's first schema (PostgreSQL). Times are epoch milliseconds; JSON values are stored as text.

CREATE TABLE agents (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    executor TEXT NOT NULL,
    status TEXT NOT NULL,
    restarts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_heartbeat BIGINT,
    -- Set by DELETE; such agents are not started again when the server starts.
    deleted_at BIGINT
);

CREATE TABLE tasks (
    -- UUIDv7: time-ordered, so the primary key is also the stable pagination cursor.
    id TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    input TEXT NOT NULL,
    required_capabilities TEXT NOT NULL,
    priority SMALLINT NOT NULL,
    status TEXT NOT NULL,
    timeout_ms BIGINT NOT NULL,
    max_retries INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    result TEXT,
    error TEXT,
    agent_id TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    updated_at BIGINT NOT NULL
);

-- A repeated POST with the same key must find the first task; partial, as most tasks have none.
CREATE UNIQUE INDEX tasks_idempotency_key ON tasks (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- `GET /api/v1/tasks?status=` pages by id within a status, and start-up recovery reads the
-- queued and running tasks: both are range scans of this index.
CREATE INDEX tasks_status_id ON tasks (status, id);
-- `GET /api/v1/tasks?role=` (optionally with status) pages by id within a role.
CREATE INDEX tasks_role_status_id ON tasks (role, status, id);
