-- Retention: old finished tasks and history are deleted, so the status counts can no longer be
-- read by counting rows, and counting a table that takes ~1 M rows an hour at 300 tasks/s would
-- grow with it anyway. The counts are kept by triggers in the same transaction as the change they
-- count, so they are exact, survive restarts and are shared by every node on the database.

CREATE TABLE task_counts (
    status TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO task_counts (status, n) SELECT status, COUNT(*) FROM tasks GROUP BY status;

CREATE FUNCTION task_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE task_counts SET n = n - 1 WHERE status = OLD.status;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO task_counts (status, n) VALUES (NEW.status, 1)
            ON CONFLICT (status) DO UPDATE SET n = task_counts.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER task_counts_insert_delete AFTER INSERT OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_counts_track();
-- The store writes a task's new state as an upsert that sets every column: the WHEN clause keeps
-- unchanged statuses (a retry's attempt count, say) from touching the counts.
CREATE TRIGGER task_counts_update AFTER UPDATE OF status ON tasks
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION task_counts_track();
