-- Agents with an identity: a task may be addressed to one agent (it runs there and nowhere else),
-- and each agent keeps a state (JSON text, NULL for null), written in the same transaction as the
-- result of the attempt that changed it.
ALTER TABLE tasks ADD COLUMN agent TEXT;
ALTER TABLE agents ADD COLUMN state TEXT;
-- `GET /api/v1/tasks?agent=` pages by id within one agent's tasks. Partial: tasks addressed to
-- no agent, most of them, cost the index nothing.
CREATE INDEX tasks_agent_id ON tasks (agent, id) WHERE agent IS NOT NULL;
