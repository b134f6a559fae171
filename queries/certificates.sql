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
