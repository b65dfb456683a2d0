-- Agents that cooperate: tasks that wait for others, tasks handed over by an agent's answer,
-- topics agents subscribe to, and the live configuration's versions.

-- The ids a task waits for (JSON array, NULL for none), the task whose answer handed it over,
-- its dependencies' results once they all succeeded (JSON object), and the topic whose message
-- created it.
ALTER TABLE tasks ADD COLUMN depends_on TEXT;
ALTER TABLE tasks ADD COLUMN parent_id TEXT;
ALTER TABLE tasks ADD COLUMN dependencies TEXT;
ALTER TABLE tasks ADD COLUMN topic TEXT;
-- `GET /api/v1/tasks?parent_id=` and the graph view's children. Partial: most tasks have none.
CREATE INDEX tasks_parent_id ON tasks (parent_id, id) WHERE parent_id IS NOT NULL;
-- A node's addressed tasks that are queued: what it looks for when another node released or
-- created work for one of its agents.
CREATE INDEX tasks_addressed_queued ON tasks (node, id) WHERE agent IS NOT NULL AND status = 'queued';

-- Who waits for whom, keyed by the task waited for: a task that ends finds its dependants here
-- in the same transaction that stores its end.
CREATE TABLE task_dependencies (
    dependency_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    PRIMARY KEY (dependency_id, task_id)
);

CREATE TABLE topic_subscriptions (
    topic TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    PRIMARY KEY (topic, agent_id)
);
CREATE INDEX topic_subscriptions_agent ON topic_subscriptions (agent_id);

-- Every version of the live settings: the whole settings after the change, the merge patch that
-- made it, who made it and when.
CREATE TABLE config_versions (
    version BIGINT PRIMARY KEY NOT NULL,
    settings TEXT NOT NULL,
    patch TEXT NOT NULL,
    author TEXT NOT NULL,
    at BIGINT NOT NULL
);
