-- name: InsertCertificate :one
INSERT INTO certificates (device_id, profile_id, cert_type, issuer, serial_hex, subject, sha256, not_before, not_after, der)
VALUES (@device_id, @profile_id, @cert_type, @issuer, @serial_hex, @subject, @sha256, @not_before, @not_after, @der)
RETURNING *;

-- name: GetCertificate :one
SELECT * FROM certificates WHERE id = @id;

-- name: GetCertificateByIssuerSerial :one
SELECT * FROM certificates WHERE issuer = @issuer AND serial_hex = @serial_hex;

-- name: RevokeCertificate :execrows
-- Revoking twice changes nothing: the first reason and time stand.
UPDATE certificates
SET status = 'revoked', revoked_at = now(), revocation_reason = @reason
WHERE issuer = @issuer AND serial_hex = @serial_hex AND status <> 'revoked';

-- name: ListRevokedUnexpired :many
-- What a CRL must list: expired certificates may drop off (RFC 5280 §3.3).
SELECT serial_hex, revoked_at, revocation_reason FROM certificates
WHERE issuer = @issuer AND status = 'revoked' AND not_after > now()
ORDER BY revoked_at, serial_hex;

-- name: GetCertificateBySHA256 :one
SELECT * FROM certificates WHERE sha256 = @sha256;

-- name: MarkCertificateSuperseded :exec
UPDATE certificates SET status = 'superseded' WHERE id = @id AND status = 'active';

-- name: HasActiveCertificate :one
SELECT EXISTS (SELECT 1 FROM certificates WHERE device_id = @device_id AND status = 'active' AND not_after > now());

-- name: ListCertificates :many
-- The inventory: metadata only, never key material (certificates hold none).
SELECT id, device_id, profile_id, cert_type, issuer, serial_hex, subject, sha256, not_before, not_after,
       status, revoked_at, revocation_reason, created_at
FROM certificates
WHERE (sqlc.narg(device_id)::text IS NULL OR device_id = sqlc.narg(device_id))
  AND (sqlc.narg(profile_id)::bigint IS NULL OR profile_id = sqlc.narg(profile_id))
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
  AND (sqlc.narg(expiring_before)::timestamptz IS NULL OR not_after < sqlc.narg(expiring_before))
  AND (sqlc.narg(expiring_after)::timestamptz IS NULL OR not_after > sqlc.narg(expiring_after))
  AND (NOT @expired::boolean OR not_after <= now())
  AND id > @after_id
ORDER BY id
LIMIT @page_size;

-- name: ListCertificatesSorted :many
-- The inventory sorted by expiry (or by ID) either way, a page after a
-- cursor of the last row's key and ID. The key is the expiry in microseconds
-- since the epoch (0 when sorting by ID); sign is 1 for ascending order and
-- -1 for descending. Each order is spelt out: with the parameters bound, the
-- planner folds the CASEs into a plain (not_after, id) or id order and
-- keyset comparison, which certificates_expiry (or the primary key) serves
-- a page at a time, where the negated key and ID this query compared before
-- sorted the whole table; ListCertificates serves the default order (by ID,
-- ascending).
SELECT id, device_id, profile_id, cert_type, issuer, serial_hex, subject, sha256, not_before, not_after,
       status, revoked_at, revocation_reason, created_at
FROM certificates
WHERE (sqlc.narg(device_id)::text IS NULL OR device_id = sqlc.narg(device_id))
  AND (sqlc.narg(profile_id)::bigint IS NULL OR profile_id = sqlc.narg(profile_id))
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
  AND (sqlc.narg(expiring_before)::timestamptz IS NULL OR not_after < sqlc.narg(expiring_before))
  AND (sqlc.narg(expiring_after)::timestamptz IS NULL OR not_after > sqlc.narg(expiring_after))
  AND (NOT sqlc.arg(expired)::boolean OR not_after <= now())
  AND (NOT sqlc.arg(paged)::boolean OR CASE
        WHEN sqlc.arg(by_expiry)::boolean AND sqlc.arg(sign)::bigint > 0
          THEN (not_after, id) > (to_timestamp(0) + sqlc.arg(after_key)::bigint * interval '1 microsecond', sqlc.arg(after_id)::bigint)
        WHEN sqlc.arg(by_expiry) THEN (not_after, id) < (to_timestamp(0) + sqlc.arg(after_key) * interval '1 microsecond', sqlc.arg(after_id))
        WHEN sqlc.arg(sign) > 0 THEN id > sqlc.arg(after_id)
        ELSE id < sqlc.arg(after_id) END)
ORDER BY
  CASE WHEN sqlc.arg(by_expiry) AND sqlc.arg(sign) > 0 THEN not_after END ASC,
  CASE WHEN sqlc.arg(by_expiry) AND sqlc.arg(sign) < 0 THEN not_after END DESC,
  CASE WHEN sqlc.arg(sign) > 0 THEN id END ASC,
  CASE WHEN sqlc.arg(sign) < 0 THEN id END DESC
LIMIT sqlc.arg(page_size);

-- name: DevicesWithoutCertificate :many
-- Enabled devices holding no unexpired, unrevoked certificate of the type.
SELECT d.id, d.name, d.device_type, d.mode FROM devices d
WHERE d.mode <> 'DISABLED' AND d.id > @after_id
  AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.device_id = d.id AND c.cert_type = @cert_type
                  AND c.status = 'active' AND c.not_after > now())
ORDER BY d.id
LIMIT @page_size;

-- name: ExpiryTimeline :many
-- Active certificates by the day, week or month they expire in.
SELECT date_trunc(@bucket::text, not_after)::timestamptz AS bucket_start, count(*) AS certificates
FROM certificates
WHERE status = 'active' AND not_after >= @range_from AND not_after < @range_to
GROUP BY 1 ORDER BY 1;

-- name: ExpiryHeadline :one
SELECT
  (SELECT count(*) FROM certificates WHERE status = 'active' AND not_after <= now()) AS expired,
  (SELECT count(*) FROM devices d WHERE d.mode <> 'DISABLED' AND NOT EXISTS (
     SELECT 1 FROM certificates c WHERE c.device_id = d.id AND c.status = 'active' AND c.not_after > now())) AS without_certificate;

-- name: DevicesOfCertificates :many
SELECT id, device_id, cert_type FROM certificates WHERE id = ANY(@ids::bigint[]);

-- name: RecordDiscoveredCertificate :one
-- A certificate a device was found holding, recorded as the device's unless
-- the inventory knows it already (by fingerprint, or by issuer and serial).
INSERT INTO certificates (device_id, cert_type, issuer, serial_hex, subject, sha256, not_before, not_after, der)
VALUES (@device_id, @cert_type, @issuer, @serial_hex, @subject, @sha256, @not_before, @not_after, @der)
ON CONFLICT DO NOTHING
RETURNING *;

-- name: FleetSummary :one
-- The console's dashboard headline. Each count uses an index; the expiring
-- windows are counted from now, expired ones excluded.
SELECT
  (SELECT count(*) FROM devices) AS devices,
  (SELECT count(*) FROM certificates WHERE status = 'active' AND not_after > now()) AS active_certificates,
  (SELECT count(*) FROM certificates WHERE status = 'active' AND not_after > now() AND not_after <= now() + interval '7 days') AS expiring_7_days,
  (SELECT count(*) FROM certificates WHERE status = 'active' AND not_after > now() AND not_after <= now() + interval '30 days') AS expiring_30_days,
  (SELECT count(*) FROM certificates WHERE status = 'active' AND not_after > now() AND not_after <= now() + interval '90 days') AS expiring_90_days,
  (SELECT count(*) FROM certificates WHERE status = 'active' AND not_after <= now()) AS expired,
  (SELECT count(*) FROM devices d WHERE d.mode <> 'DISABLED' AND NOT EXISTS (
     SELECT 1 FROM certificates c WHERE c.device_id = d.id AND c.status = 'active' AND c.not_after > now())) AS without_certificate,
  (SELECT count(*) FROM ca_requests WHERE status = 'pending') AS pending_ca_requests;

-- name: ProfilesOfDevices :many
-- For a page of devices: each one's profiles, by certificate type.
SELECT device_id, array_agg(profile_id ORDER BY cert_type)::bigint[] AS profile_ids
FROM device_profiles WHERE device_id = ANY(@ids::text[]) GROUP BY device_id;

-- name: CurrentCertificateExpiries :many
-- For a page of devices: when each one's latest-expiring active certificate ends.
SELECT device_id::text AS device_id, max(not_after)::timestamptz AS not_after
FROM certificates WHERE device_id = ANY(@ids::text[]) AND status = 'active' GROUP BY device_id;

-- name: CertificateStatus :one
-- What OCSP says of a certificate: the inventory's status, and when and why
-- it was revoked.
SELECT status, revoked_at, revocation_reason FROM certificates
WHERE issuer = @issuer AND serial_hex = @serial_hex;

-- name: UnrenewedExpiring :many
-- Profiles with active certificates expiring within 30 days that no
-- unpaused renewal policy covers, and how many.
SELECT p.id AS profile_id, p.name AS profile, count(*) AS certificates
FROM certificates c JOIN profiles p ON p.id = c.profile_id JOIN devices d ON d.id = c.device_id
WHERE c.status = 'active' AND c.not_after > now() AND c.not_after <= now() + interval '30 days'
  AND NOT EXISTS (SELECT 1 FROM renewal_policies r WHERE NOT r.paused AND r.cert_type = c.cert_type
      AND (cardinality(r.profile_ids) = 0 OR c.profile_id = ANY(r.profile_ids))
      AND (cardinality(r.device_types) = 0 OR d.device_type = ANY(r.device_types)))
GROUP BY p.id, p.name ORDER BY p.name;

-- name: LockDeviceForIssue :exec
-- Makes the certificates recorded for one device take turns: a transaction
-- recording one waits here until any other doing so has committed. So their
-- IDs follow commit order, and each booking (CompleteEnrollment) sees every
-- certificate booked before it, which it supersedes. NO KEY UPDATE leaves
-- alone the KEY SHARE locks of rows that merely reference the device.
SELECT 1 FROM devices WHERE id = @id FOR NO KEY UPDATE;
