package errkind_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/errkind"
)

// TestKindsSurviveWrapping: a refusal keeps its kind, field and details
// through wrapping, still unwraps to the sentinel it names, and keeps its
// cause out of the message a client reads.
func TestKindsSurviveWrapping(t *testing.T) {
	errDuplicate := errors.New("already uploaded")
	conflict := errkind.Conflict("%w: CN=root", errDuplicate).With(map[string]any{"devices": []string{"cam-1"}})
	wrapped := fmt.Errorf("store: %w", conflict)

	kinded, ok := errkind.As(wrapped)
	require.True(t, ok)
	assert.Equal(t, errkind.KindConflict, kinded.Kind())
	assert.Equal(t, "already uploaded: CN=root", kinded.Message())
	assert.Equal(t, []string{"cam-1"}, kinded.Details()["devices"])
	assert.ErrorIs(t, wrapped, errDuplicate)

	invalid := errkind.Invalid("windows[0].start", "%q is not HH:MM", "25:00")
	assert.Equal(t, "windows[0].start", invalid.Field())
	assert.Equal(t, `windows[0].start: "25:00" is not HH:MM`, invalid.Error())

	down := errors.New("dial tcp 10.0.0.7:7233: connection refused")
	unavailable := errkind.Unavailable(down, "Temporal did not answer")
	assert.Equal(t, "Temporal did not answer", unavailable.Message(), "the cause stays out of the message")
	assert.Contains(t, unavailable.Error(), "10.0.0.7", "and in the log")
	assert.ErrorIs(t, unavailable, down)

	assert.Equal(t, errkind.Kind(0), errkind.KindOf(errors.New("plain")))
	assert.Nil(t, conflict.With(nil).Details(), "With copies")
	assert.NotNil(t, conflict.Details())
}
