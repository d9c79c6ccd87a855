-- Sync server (PostgreSQL back end), version 3: the team's flows, their content-addressed versions,
-- and the conflicts recorded when concurrent edits touched the same field.
-- The same shape as migrations/server-sqlite/0003_flows.sql.

-- Every document the team has seen, named by its version id (rf_core::VersionId). Versions
-- are immutable; `number` is the server's label, in the order it accepted them.
CREATE TABLE flow_versions (
    team_id     TEXT    NOT NULL REFERENCES teams (id),
    flow_id     TEXT    NOT NULL,
    version_id  TEXT    NOT NULL,
    number      BIGINT  NOT NULL,
    document    TEXT    NOT NULL,
    created_by  TEXT    NOT NULL REFERENCES users (id),
    created_at  BIGINT  NOT NULL,
    team_seq    BIGINT  NOT NULL,
    PRIMARY KEY (team_id, flow_id, version_id),
    UNIQUE (team_id, flow_id, number)
);
CREATE UNIQUE INDEX flow_versions_by_team_seq ON flow_versions (team_id, team_seq);

-- A flow's head: the version new sessions start on. team_seq moves with every head change.
CREATE TABLE flows (
    team_id      TEXT    NOT NULL REFERENCES teams (id),
    flow_id      TEXT    NOT NULL,
    head_version TEXT    NOT NULL,
    author_id    TEXT    NOT NULL REFERENCES users (id),
    updated_at   BIGINT  NOT NULL,
    team_seq     BIGINT  NOT NULL,
    PRIMARY KEY (team_id, flow_id),
    FOREIGN KEY (team_id, flow_id, head_version) REFERENCES flow_versions (team_id, flow_id, version_id)
);
CREATE UNIQUE INDEX flows_by_team_seq ON flows (team_id, team_seq);

-- A same-field clash: `kept` is in the head, `other` was pushed by raised_by and not applied.
-- team_seq moves when the conflict is created and when it is resolved.
CREATE TABLE flow_conflicts (
    id            TEXT    PRIMARY KEY,
    team_id       TEXT    NOT NULL REFERENCES teams (id),
    flow_id       TEXT    NOT NULL,
    path          TEXT    NOT NULL,
    base          TEXT,
    kept          TEXT,
    other         TEXT,
    kept_version  TEXT    NOT NULL,
    other_version TEXT    NOT NULL,
    raised_by     TEXT    NOT NULL REFERENCES users (id),
    created_at    BIGINT  NOT NULL,
    resolution    TEXT CHECK (resolution IN ('mine', 'theirs')),
    resolved_by   TEXT REFERENCES users (id),
    resolved_at   BIGINT,
    team_seq      BIGINT  NOT NULL
);
CREATE UNIQUE INDEX flow_conflicts_by_team_seq ON flow_conflicts (team_id, team_seq);
