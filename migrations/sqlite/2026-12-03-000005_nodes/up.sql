-- Which node holds each unfinished task and runs each agent (PostgreSQL's migration explains).
-- A SQLite database has one server, so both stay NULL here; the columns keep one schema.
ALTER TABLE tasks ADD COLUMN node TEXT;
ALTER TABLE agents ADD COLUMN node TEXT;
