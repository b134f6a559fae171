-- name: InsertTrustAnchor :one
INSERT INTO trust_anchors (name, subject, der, sha256, not_after, auto_register, name_mapping)
VALUES (@name, @subject, @der, @sha256, @not_after, @auto_register, @name_mapping)
RETURNING *;

-- name: GetTrustAnchor :one
SELECT * FROM trust_anchors WHERE id = @id;

-- name: ListTrustAnchors :many
SELECT * FROM trust_anchors ORDER BY id;

-- name: SetTrustAnchorEnabled :execrows
UPDATE trust_anchors SET enabled = @enabled WHERE id = @id;

-- name: DeleteTrustAnchor :execrows
DELETE FROM trust_anchors WHERE id = @id;

-- name: SetTrustAnchorChallenge :execrows
UPDATE trust_anchors SET verification_code_hash = @verification_code_hash WHERE id = @id;

-- name: MarkTrustAnchorVerified :execrows
UPDATE trust_anchors SET verified_at = now(), verification_code_hash = NULL
WHERE id = @id AND verification_code_hash = @verification_code_hash;

-- name: AddOfflineRevocation :execrows
-- A serial already listed keeps its first entry.
INSERT INTO offline_revocations (anchor_id, serial_hex, revoked_at)
VALUES (@anchor_id, @serial_hex, @revoked_at)
ON CONFLICT (anchor_id, serial_hex) DO NOTHING;

-- name: IsOfflineRevoked :one
SELECT EXISTS (SELECT 1 FROM offline_revocations WHERE anchor_id = @anchor_id AND serial_hex = @serial_hex);

-- name: ConfirmLegacyTrustAnchor :execrows
UPDATE trust_anchors SET verified_at = now(), confirmed_by = @confirmed_by, enabled = true
WHERE id = @id AND legacy_unproven AND verified_at IS NULL;
