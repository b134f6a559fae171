-- name: CreateProfile :one
INSERT INTO profiles (name, cert_type, device_type, subject_rules, san_rules, extra_attributes,
                      key_algorithms, validity, renew_before, ca_driver, ca_settings, approval_mode, max_ca_wait)
VALUES (@name, @cert_type, @device_type, @subject_rules, @san_rules, @extra_attributes,
        @key_algorithms, @validity, @renew_before, @ca_driver, @ca_settings, @approval_mode, @max_ca_wait)
RETURNING *;

-- name: GetProfile :one
SELECT * FROM profiles WHERE id = @id;
