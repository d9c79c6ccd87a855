-- Sync server (PostgreSQL back end), version 1: teams, users and their logins. The same shape
-- as migrations/server-sqlite/0001_accounts.sql; e-mails are stored lowercased by the server.
-- Append-only: never edit this file once shipped; add a new numbered migration instead.

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    team_id       TEXT NOT NULL REFERENCES teams (id),
    email         TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('super_admin', 'team_admin', 'engineer', 'viewer')),
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE logins (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    login_id   TEXT NOT NULL REFERENCES logins (id),
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT
);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    login_id   TEXT NOT NULL REFERENCES logins (id),
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_by_login ON access_tokens (login_id);
