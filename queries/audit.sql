-- name: RecordAudit :exec
INSERT INTO audit_log (actor, action, object_type, object_ids, details)
VALUES (@actor, @action, @object_type, coalesce(@object_ids::text[], '{}'), @details);

-- name: ListAudit :many
SELECT * FROM audit_log
WHERE (sqlc.narg(object_type)::text IS NULL OR object_type = sqlc.narg(object_type))
  AND (sqlc.narg(after_id)::bigint IS NULL OR id > sqlc.narg(after_id))
ORDER BY id
LIMIT @page_size;
