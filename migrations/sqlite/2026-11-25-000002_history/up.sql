-- History: what happened to each task, and every supervision decision. Both tables are append-only.

-- When the task last became eligible to run (accepted, retried or handed back): the start of the
-- queue wait that the SLA report measures. Rows from before this column wait from their creation.
ALTER TABLE tasks ADD COLUMN queued_at BIGINT NOT NULL DEFAULT 0;
UPDATE tasks SET queued_at = created_at;
-- Whether a result over the size limit is kept cut short (with a marker) instead of failing the task.
ALTER TABLE tasks ADD COLUMN truncate_result BOOLEAN NOT NULL DEFAULT FALSE;

-- The SLA report reads the tasks that finished inside its window: a range scan of this index.
-- The list's priority and creation-time filters get no index of their own: a page walks the
-- primary key (UUIDv7, so creation order) from its cursor and skips what does not match. Every
-- insert would pay for such an index; listing by those filters is an operator's occasional read.
CREATE INDEX tasks_finished_at ON tasks (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE task_events (
    -- Insertion order is the order the store committed the changes in.
    id INTEGER PRIMARY KEY NOT NULL,
    task_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    -- queued, started, retrying, requeued, succeeded, failed, dead, cancelled
    kind TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    agent_id TEXT,
    error TEXT
);
-- `GET /api/v1/tasks/{id}/events` reads one task's history in order.
CREATE INDEX task_events_task_id ON task_events (task_id, id);

CREATE TABLE supervisor_events (
    id INTEGER PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    supervisor TEXT NOT NULL,
    child TEXT NOT NULL,
    -- child_started, child_exited, child_restarted, child_restarting, supervisor_gave_up
    kind TEXT NOT NULL,
    reason TEXT,
    restarts BIGINT
);
-- Listing pages by id (newest last); filtering by supervisor pages within it.
CREATE INDEX supervisor_events_supervisor ON supervisor_events (supervisor, id);
