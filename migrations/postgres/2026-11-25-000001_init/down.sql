DROP TABLE tasks;
DROP TABLE agents;
