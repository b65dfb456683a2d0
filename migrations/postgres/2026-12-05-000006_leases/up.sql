-- Which node is alive, decided where every task's truth is: each node renews its lease here every
-- heartbeat, and a survivor takes over a node's work only after fencing it here, which a node
-- whose lease has not run out (by this database's clock) cannot be.
CREATE TABLE node_leases (
    node TEXT PRIMARY KEY,
    -- Milliseconds since the epoch, on the database's clock: one clock judges every node.
    expires_at BIGINT NOT NULL,
    -- Raised by the node when it starts and by the survivor that fences it; a renewal names the
    -- epoch it holds, so a fenced node learns that it was.
    epoch BIGINT NOT NULL
);
