-- Replica schema, version 12: the conflict resolutions this replica made that the server
-- applied, so a sync server restored from an older backup gets them back.
--
-- A row is written when a push answer settles the `resolve` mutation without refusing it.
-- When the server's epoch changes (it was restored) every row is marked lost. After each
-- complete pull, a lost resolution whose conflict the server shows unresolved is queued again
-- and no longer lost. The conflict is found by its id or, when the restored server lacked it
-- and raised it afresh as the lost versions went up again, by the same flow, field and
-- clashing version.
CREATE TABLE resolved_here (
    conflict_id   TEXT PRIMARY KEY,
    flow_id       TEXT NOT NULL,
    path          TEXT NOT NULL,
    other_version TEXT NOT NULL,
    keep          TEXT NOT NULL CHECK (keep IN ('mine', 'theirs')),
    lost          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX resolved_here_lost ON resolved_here (lost) WHERE lost;
