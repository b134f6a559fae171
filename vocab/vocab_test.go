package vocab_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/vocab"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestCheckConstraintsMatch: the CHECK constraints of a fully migrated
// database allow exactly the values listed here, in the same order.
func TestCheckConstraintsMatch(t *testing.T) {
	pool, _ := testenv.Database(t)
	allowed := func(constraint string) []string {
		var def string
		err := pool.QueryRow(context.Background(), `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1`, constraint).Scan(&def)
		require.NoError(t, err, "constraint %s", constraint)
		var values []string
		for _, m := range regexp.MustCompile(`'([^']*)'::text`).FindAllStringSubmatch(def, -1) {
			values = append(values, m[1])
		}
		return values
	}
	assert.Equal(t, asStrings(vocab.Steps), allowed("job_items_step_check"))
	assert.Equal(t, asStrings(vocab.ItemStates), allowed("job_items_state_check"))
	assert.Equal(t, asStrings(vocab.RequestStatuses), allowed("ca_requests_status_check"))
	assert.Equal(t, asStrings(vocab.JobStatuses), allowed("jobs_status_check"))
	assert.Equal(t, asStrings(vocab.FinishedJobStatuses), allowed("jobs_check"), "a job has completed_at exactly in these")
}

// TestJobOutcome: a job's state tells how its items ended.
func TestJobOutcome(t *testing.T) {
	assert.Equal(t, vocab.JobSucceeded, vocab.JobOutcome(map[vocab.Outcome]int{vocab.Succeeded: 3, vocab.RevokeNA: 1, vocab.Skipped: 2}))
	assert.Equal(t, vocab.JobSucceeded, vocab.JobOutcome(map[vocab.Outcome]int{vocab.Skipped: 2}))
	assert.Equal(t, vocab.JobFailed, vocab.JobOutcome(map[vocab.Outcome]int{vocab.DeviceFailure: 3, vocab.CAFailure: 1, vocab.Skipped: 2}))
	assert.Equal(t, vocab.JobCompletedWithFailures, vocab.JobOutcome(map[vocab.Outcome]int{vocab.Succeeded: 1, vocab.DeviceFailure: 1}))
	assert.Equal(t, vocab.JobCompletedWithFailures, vocab.JobOutcome(map[vocab.Outcome]int{vocab.RevokeWarning: 1}))
}

func asStrings[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
