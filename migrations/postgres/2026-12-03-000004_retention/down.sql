DROP TRIGGER task_counts_update ON tasks;
DROP TRIGGER task_counts_insert_delete ON tasks;
DROP FUNCTION task_counts_track();
DROP TABLE task_counts;
