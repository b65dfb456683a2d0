-- Several nodes on one database: which node holds each unfinished task, and which node runs each
-- agent. NULL on both means a single server (or, for a task, one no node has taken yet).

-- A node takes a task by setting `node` where it is NULL (or its own): the update is the lock,
-- so a task two nodes read from the stream, or that two survivors find, runs on one of them.
ALTER TABLE tasks ADD COLUMN node TEXT;
-- Taking over a lost node's tasks reads its unfinished ones: the index holds only those.
CREATE INDEX tasks_held ON tasks (node) WHERE status IN ('queued', 'running');

ALTER TABLE agents ADD COLUMN node TEXT;
