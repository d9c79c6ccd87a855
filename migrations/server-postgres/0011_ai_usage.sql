-- Sync server (postgres back end), version 11: FlowPilot's usage per team and month, from the
-- token counts the model reports, and the monthly cap a team admin sets (none: no cap).
-- The same shape as the other back end's 0011_ai_usage.sql.
CREATE TABLE ai_usage (
    team_id               TEXT    NOT NULL REFERENCES teams (id),
    -- The calendar month in UTC, as YYYY-MM.
    month                 TEXT    NOT NULL,
    requests              BIGINT NOT NULL,
    input_tokens          BIGINT NOT NULL,
    output_tokens         BIGINT NOT NULL,
    cache_creation_tokens BIGINT NOT NULL,
    cache_read_tokens     BIGINT NOT NULL,
    PRIMARY KEY (team_id, month)
);
CREATE TABLE ai_caps (
    team_id        TEXT    PRIMARY KEY REFERENCES teams (id),
    monthly_tokens BIGINT NOT NULL CHECK (monthly_tokens >= 0),
    updated_at     BIGINT NOT NULL,
    updated_by     TEXT    NOT NULL REFERENCES users (id)
);
