DROP TRIGGER task_counts_delete;
DROP TRIGGER task_counts_update;
DROP TRIGGER task_counts_insert;
DROP TABLE task_counts;
