DROP TABLE supervisor_events;
DROP TABLE task_events;
DROP INDEX tasks_finished_at;
ALTER TABLE tasks DROP COLUMN truncate_result;
ALTER TABLE tasks DROP COLUMN queued_at;
