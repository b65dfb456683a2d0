DROP INDEX tasks_agent_id;
ALTER TABLE agents DROP COLUMN state;
ALTER TABLE tasks DROP COLUMN agent;
