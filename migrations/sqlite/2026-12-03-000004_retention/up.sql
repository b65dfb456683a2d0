-- Retention: old finished tasks and history are deleted, so the status counts can no longer be
-- read by counting rows, and counting a table that takes ~1 M rows an hour at 300 tasks/s would
-- grow with it anyway. The counts are kept by triggers in the same transaction as the change they
-- count, so they are exact, survive restarts and are shared by every process on the database.

CREATE TABLE task_counts (
    status TEXT PRIMARY KEY NOT NULL,
    n BIGINT NOT NULL
);
INSERT INTO task_counts (status, n) SELECT status, COUNT(*) FROM tasks GROUP BY status;

CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

-- The store writes a task's new state as an upsert that sets every column: the WHEN clause keeps
-- unchanged statuses (a retry's attempt count, say) from touching the counts.
CREATE TRIGGER task_counts_update AFTER UPDATE OF status ON tasks WHEN OLD.status <> NEW.status BEGIN
    UPDATE task_counts SET n = n - 1 WHERE status = OLD.status;
    INSERT INTO task_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts SET n = n - 1 WHERE status = OLD.status;
END;
