-- name: CreateProfile :one
INSERT INTO profiles (name, cert_type, device_type, subject_rules, san_rules, extra_attributes,
                      key_algorithms, validity, renew_before, ca_driver, ca_settings, approval_mode, max_ca_wait,
                      binding, device_trust, key_usage, ext_key_usage)
VALUES (@name, @cert_type, @device_type, @subject_rules, @san_rules, @extra_attributes,
        @key_algorithms, @validity, @renew_before, @ca_driver, @ca_settings, @approval_mode, @max_ca_wait,
        @binding, @device_trust,
        -- Callers that name no usages (nil, sent as NULL) get the type's.
        coalesce(sqlc.narg(key_usage)::text[], '{}'), coalesce(sqlc.narg(ext_key_usage)::text[], '{}'))
RETURNING *;

-- name: GetProfile :one
SELECT * FROM profiles WHERE id = @id;

-- name: ListProfiles :many
SELECT * FROM profiles
WHERE (@status::text = 'all' OR (@status = 'active' AND archived_at IS NULL) OR (@status = 'archived' AND archived_at IS NOT NULL))
  AND (sqlc.narg(device_type)::text IS NULL OR device_type = sqlc.narg(device_type))
  AND (sqlc.narg(cert_type)::text IS NULL OR cert_type = sqlc.narg(cert_type))
  AND id > @after_id
ORDER BY id
LIMIT @page_size;

-- name: UpdateProfile :one
UPDATE profiles
SET name = @name, cert_type = @cert_type, device_type = @device_type, subject_rules = @subject_rules,
    san_rules = @san_rules, extra_attributes = @extra_attributes, key_algorithms = @key_algorithms,
    validity = @validity, renew_before = @renew_before, ca_driver = @ca_driver, ca_settings = @ca_settings,
    approval_mode = @approval_mode, max_ca_wait = @max_ca_wait, binding = @binding, device_trust = @device_trust,
    key_usage = coalesce(sqlc.narg(key_usage)::text[], '{}'), ext_key_usage = coalesce(sqlc.narg(ext_key_usage)::text[], '{}'),
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: SetProfileArchived :one
UPDATE profiles SET archived_at = CASE WHEN @archived::boolean THEN coalesce(archived_at, now()) END, updated_at = now()
WHERE id = @id
RETURNING *;
