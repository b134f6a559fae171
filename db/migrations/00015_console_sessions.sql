-- +goose Up
-- Browser sessions of the web console: signing in with an API token gives a
-- session cookie, which then stands for that token until it is idle too
-- long, reaches its end, is signed out, or its token is revoked or expires.
-- Only the SHA-256 of the (256-bit, random) cookie is kept.
CREATE TABLE console_sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_hash bytea NOT NULL UNIQUE CHECK (length(session_hash) = 32),
    token_id     bigint NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- +goose Down
DROP TABLE console_sessions;
