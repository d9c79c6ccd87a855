-- Sync server (postgres back end), version 9: each team's ConnectWise Manage connection. The API
-- member's public and private keys are sealed with the server's secrets key
-- (XChaCha20-Poly1305, the team's id bound in): key_id names the key, nonce and ciphertext
-- are the sealed JSON. Nothing here opens without the key file, which is kept apart.
-- The same shape as the other back end's 0009_psa_connections.sql.
CREATE TABLE psa_connections (
    team_id         TEXT    PRIMARY KEY REFERENCES teams (id),
    api_url         TEXT    NOT NULL,
    company_id      TEXT    NOT NULL,
    client_id       TEXT,
    key_id          TEXT    NOT NULL,
    nonce           BYTEA   NOT NULL,
    ciphertext      BYTEA   NOT NULL,
    public_key_hint TEXT    NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT    NOT NULL REFERENCES users (id)
);
