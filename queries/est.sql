-- name: CreateESTLabel :one
INSERT INTO est_labels (label, is_default, profile_id, allow_basic, allow_factory, allow_reenroll, identity_field, allowed_cidrs,
                        scep_enabled, scep_challenges)
VALUES (@label, @is_default, @profile_id, @allow_basic, @allow_factory, @allow_reenroll, @identity_field, @allowed_cidrs,
        @scep_enabled, @scep_challenges)
RETURNING *;

-- name: UpdateESTLabel :one
UPDATE est_labels
SET is_default = @is_default, profile_id = @profile_id, allow_basic = @allow_basic, allow_factory = @allow_factory,
    allow_reenroll = @allow_reenroll, identity_field = @identity_field, allowed_cidrs = @allowed_cidrs,
    scep_enabled = @scep_enabled, scep_challenges = @scep_challenges, updated_at = now()
WHERE label = @label
RETURNING *;

-- name: DeleteESTLabel :execrows
DELETE FROM est_labels WHERE label = @label;

-- name: GetESTLabel :one
SELECT * FROM est_labels WHERE label = @label;

-- name: ListESTLabels :many
SELECT * FROM est_labels ORDER BY label;

-- name: CreateEnrollmentCredential :exec
INSERT INTO enrollment_credentials (device_id, kind, secret_hash, expires_at)
VALUES (@device_id, @kind, @secret_hash, sqlc.narg(expires_at));

-- name: DeletePasswordCredentials :exec
DELETE FROM enrollment_credentials WHERE device_id = @device_id AND kind = 'password';

-- name: EnrollmentCredentials :many
-- Unexpired credentials of a device, passwords first. A spent OTP is listed
-- too: the enrollment it was spent on may present it again.
SELECT id, kind, secret_hash, used_for FROM enrollment_credentials
WHERE device_id = @device_id AND (expires_at IS NULL OR expires_at > now())
ORDER BY kind DESC, id DESC;

-- name: SpendOTP :execrows
-- Zero rows: a concurrent request spent it on another enrollment.
UPDATE enrollment_credentials SET used_at = now(), used_for = @enrollment::text
WHERE id = @id AND kind = 'otp' AND (used_for IS NULL OR used_for = @enrollment::text);

-- name: GetDeviceByFactoryCert :one
SELECT * FROM devices WHERE factory_cert_sha256 = @factory_cert_sha256;

-- name: FactoryDeviceOrNamesake :many
-- The device of a factory certificate, or else the device that already has
-- the ID the certificate would register: at most two rows, the certificate's
-- own first.
SELECT * FROM devices WHERE factory_cert_sha256 = @factory_cert_sha256 OR id = @id
ORDER BY factory_cert_sha256 IS NOT DISTINCT FROM @factory_cert_sha256 DESC;

-- name: RegisterFactoryDevice :one
-- Creates a device on first contact, with its audit row, in one statement. A
-- concurrent first contact with the same certificate wins nothing twice: the
-- loser gets no row and reads the winner's.
WITH device AS (
    INSERT INTO devices (id, name, device_type, mode, driver, factory_cert_sha256, factory_anchor_id)
    VALUES (@id, @name, @device_type, 'FACTORY', 'est', @factory_cert_sha256, @factory_anchor_id::bigint)
    ON CONFLICT DO NOTHING
    RETURNING id
), audit AS (
    INSERT INTO audit_log (actor, action, object_type, object_ids, details)
    SELECT 'est:factory-certificate', 'device.auto_register', 'device', ARRAY[id], jsonb_build_object('trust_anchor_id', @factory_anchor_id::bigint)
    FROM device
)
SELECT id FROM device;

-- name: CompleteEnrollment :many
-- Books an issued certificate in one statement: the device becomes
-- OPERATIONAL and assigned to the profile. The rows are what the new
-- certificate supersedes: the device's older active certificates, never a
-- newer one (a late retry of an old enrollment must not revoke its successor).
-- A certificate no longer active (a late repeat of an enrollment since
-- superseded, which the device is then refused) books nothing: the device
-- keeps its mode and its profile.
WITH issued AS (
    SELECT n.id FROM certificates n WHERE n.id = @issued_id AND n.status = 'active'
), operational AS (
    UPDATE devices SET mode = 'OPERATIONAL', updated_at = now()
    WHERE id = @device_id AND mode IN ('NEW', 'FACTORY') AND EXISTS (SELECT FROM issued)
), assigned AS (
    INSERT INTO device_profiles (device_id, cert_type, profile_id)
    SELECT @device_id, @cert_type, @profile_id FROM issued
    ON CONFLICT (device_id, cert_type) DO UPDATE SET profile_id = EXCLUDED.profile_id
)
SELECT c.id FROM certificates c JOIN issued ON c.id < issued.id
WHERE c.device_id = @device_id AND c.cert_type = @cert_type AND c.status = 'active'
ORDER BY c.id;

-- name: ESTLabelWithProfile :one
-- The label of a request (the default one when label is empty) and its profile.
SELECT sqlc.embed(l), sqlc.embed(p) FROM est_labels l JOIN profiles p ON p.id = l.profile_id
WHERE CASE WHEN @label::text = '' THEN l.is_default ELSE l.label = @label::text END;

-- name: GetDeviceType :one
SELECT * FROM device_types WHERE name = @name;

-- name: ClearDefaultESTLabel :exec
UPDATE est_labels SET is_default = false WHERE is_default AND label <> @label;

-- name: MakeDefaultESTLabel :one
UPDATE est_labels SET is_default = true WHERE label = @label RETURNING *;
