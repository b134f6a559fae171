package scep_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/certfleet/certfleet/internal/testenv"
)

// assertChallengeSealed checks that the challenge a device's SCEP request
// carried inside its CSR is kept nowhere in clear: not in the CA ledger, the
// SCEP transactions, or any payload of its enrollments' workflow histories
// (where the CSR is base64 inside JSON, so payloads are searched decoded).
func (w *world) assertChallengeSealed(t *testing.T, deviceID, challenge string) {
	t.Helper()
	ctx := context.Background()
	for _, table := range []string{"ca_requests", "scep_transactions"} {
		rows, err := w.pool.Query(ctx, `SELECT csr_der, csr_sealed FROM `+table+` WHERE device_id = $1`, deviceID)
		require.NoError(t, err)
		type row struct {
			Der    []byte
			Sealed bool
		}
		kept, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		require.NoError(t, err)
		require.NotEmpty(t, kept, table)
		for _, r := range kept {
			assert.True(t, r.Sealed, "%s keeps the CSR sealed", table)
			assert.False(t, bytes.Contains(r.Der, []byte(challenge)), "%s holds the challenge in clear", table)
		}
	}
	for _, id := range w.enrollmentIDs(t, deviceID) {
		for _, run := range testenv.Runs(t, w.temporal, id) {
			history := testenv.History(t, w.temporal, id, run)
			payloads := 0
			walkPayloads(history.ProtoReflect(), func(p *commonpb.Payload) {
				payloads++
				assert.False(t, containsSecret(p.GetData(), challenge), "a payload of %s holds the challenge", id)
			})
			assert.NotZero(t, payloads, id)
		}
	}
}

func (w *world) enrollmentIDs(t *testing.T, deviceID string) []string {
	t.Helper()
	rows, err := w.pool.Query(context.Background(), `SELECT idempotency_key FROM ca_requests WHERE device_id = $1`, deviceID)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return ids
}

// walkPayloads calls f with every Payload inside m.
func walkPayloads(m protoreflect.Message, f func(*commonpb.Payload)) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		f(p)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				walkPayloads(v.List().Get(i).Message(), f)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				walkPayloads(mv.Message(), f)
				return true
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			walkPayloads(v.Message(), f)
		}
		return true
	})
}

// containsSecret looks for secret in JSON data, in its strings and in what
// those decode to as base64 ([]byte fields, such as a CSR).
func containsSecret(data []byte, secret string) bool {
	if bytes.Contains(data, []byte(secret)) {
		return true
	}
	var v any
	if json.Unmarshal(data, &v) != nil {
		return false
	}
	var found bool
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if decoded, err := base64.StdEncoding.DecodeString(v); err == nil && bytes.Contains(decoded, []byte(secret)) {
				found = true
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return found
}
