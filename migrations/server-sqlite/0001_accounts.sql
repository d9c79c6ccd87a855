-- Sync server (SQLite back end), version 1: teams, users and their logins.
-- Append-only: never edit this file once shipped; add a new numbered migration instead.

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    team_id       TEXT NOT NULL REFERENCES teams (id),
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role          TEXT NOT NULL CHECK (role IN ('super_admin', 'team_admin', 'engineer', 'viewer')),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

-- One row per sign-in on a device. Every token descends from one login; reusing a refresh token
-- that was already rotated revokes the login and with it every token it issued.
CREATE TABLE logins (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- Tokens are stored as SHA-256 hashes only: a copy of the database does not let anyone in.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    login_id    TEXT NOT NULL REFERENCES logins (id),
    expires_at  INTEGER NOT NULL,
    rotated_at  INTEGER
);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    login_id   TEXT NOT NULL REFERENCES logins (id),
    expires_at INTEGER NOT NULL
);
CREATE INDEX access_tokens_by_login ON access_tokens (login_id);
