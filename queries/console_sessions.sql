-- name: CreateConsoleSession :one
INSERT INTO console_sessions (session_hash, token_id, expires_at) VALUES (@session_hash, @token_id, @expires_at)
RETURNING id, expires_at;

-- UseConsoleSession is authentication by session cookie, on the path of every
-- console request: a live session (not ended, not past its end, not idle for
-- longer than idle) of a live token, its last use recorded at most once a
-- minute, as UseAPIToken does.
-- name: UseConsoleSession :one
WITH live AS (
    SELECT s.id, t.id AS token_id, t.name, t.role, s.expires_at FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
    WHERE s.session_hash = @session_hash::bytea AND s.ended_at IS NULL AND s.expires_at > now()
      AND s.last_seen_at > now() - @idle::interval
      AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
), touched AS (
    UPDATE console_sessions c SET last_seen_at = now()
    FROM live
    WHERE c.id = live.id AND c.last_seen_at < now() - interval '1 minute'
)
SELECT id, token_id, name, role, expires_at FROM live;

-- name: EndConsoleSession :execrows
UPDATE console_sessions SET ended_at = now() WHERE session_hash = @session_hash AND ended_at IS NULL;
