-- Sync server (postgres back end), version 6: each user's pinned flows, a setting of their own that
-- syncs across their devices and never to teammates. A change takes the team's next number
-- (team_seq) like every other change, so pull pages carry it in order; pull sends each user
-- only their own rows. The same shape as the other back end's 0006_user_pins.sql.
CREATE TABLE user_pins (
    user_id  TEXT    NOT NULL REFERENCES users (id),
    flow_id  TEXT    NOT NULL,
    team_id  TEXT    NOT NULL REFERENCES teams (id),
    pinned   BOOLEAN NOT NULL,
    team_seq BIGINT NOT NULL,
    PRIMARY KEY (user_id, flow_id)
);
CREATE UNIQUE INDEX user_pins_by_team_seq ON user_pins (team_id, team_seq);
