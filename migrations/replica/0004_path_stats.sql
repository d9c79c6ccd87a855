-- Path statistics as running totals, added to in the transaction that records a session's
-- `finished` event, so showing "chosen 71% of the time; 80% of those resolved" reads a few rows
-- instead of replaying every finished session. The replica fills them from the sessions already
-- finished, in the same transaction as this migration.
CREATE TABLE path_stats_flows (
    flow_id  TEXT    PRIMARY KEY,
    sessions INTEGER NOT NULL,
    resolved INTEGER NOT NULL
);

CREATE TABLE path_stats_nodes (
    flow_id  TEXT    NOT NULL,
    node_id  TEXT    NOT NULL,
    reached  INTEGER NOT NULL,
    answered INTEGER NOT NULL,
    resolved INTEGER NOT NULL,
    PRIMARY KEY (flow_id, node_id)
);

CREATE TABLE path_stats_answers (
    flow_id  TEXT    NOT NULL,
    node_id  TEXT    NOT NULL,
    label    TEXT    NOT NULL,
    chosen   INTEGER NOT NULL,
    resolved INTEGER NOT NULL,
    PRIMARY KEY (flow_id, node_id, label)
);
