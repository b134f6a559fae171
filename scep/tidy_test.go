package scep_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/scep"
)

// TestTidyKeepsWhatCanStillBeUsed: expired challenges and old transactions
// go; a live challenge, one expired only moments ago, and a recent
// transaction stay.
func TestTidyKeepsWhatCanStillBeUsed(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.Database(t)
	_, err := pool.Exec(ctx, `
		INSERT INTO devices (id, name, device_type, mode, driver) VALUES ('dev-1', 'dev-1', 'camera', 'NEW', 'est');
		INSERT INTO profiles (name, cert_type, device_type, subject_rules, san_rules, extra_attributes, key_algorithms, validity, renew_before, ca_driver, ca_settings)
		VALUES ('tidy', 'tls', 'camera', '[]', '[]', '[]', '[{"algorithm":"ecdsa","sizes":[256]}]', interval '1 day', interval '1 hour', 'local', '{}');
		INSERT INTO scep_challenges (secret_sha256, expires_at, created_by) VALUES
			(sha256('old'::bytea), now() - interval '2 days', 'test'),
			(sha256('just-expired'::bytea), now() - interval '1 hour', 'test'),
			(sha256('live'::bytea), now() + interval '1 hour', 'test');
		INSERT INTO scep_transactions (signer_sha256, transaction_id, enrollment, label, device_id, profile_id, cert_type, identity_field, csr_der, csr_sealed, created_at)
		SELECT sha256(t::bytea), t, 'scep/dev-1/' || t, 'l', 'dev-1', (SELECT id FROM profiles WHERE name = 'tidy'), 'tls', 'CN', '\x00', false, at
		FROM (VALUES ('old', now() - interval '100 days'), ('recent', now() - interval '1 day')) AS v(t, at);`)
	require.NoError(t, err)

	challenges, transactions, err := scep.Tidy(ctx, pool)
	require.NoError(t, err)
	assert.Equal(t, int64(1), challenges)
	assert.Equal(t, int64(1), transactions)
	var left int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM scep_challenges) + (SELECT count(*) FROM scep_transactions)`).Scan(&left))
	assert.Equal(t, 3, left)
}
