package worker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestOptions: each bound reaches the SDK's option of the same meaning, and
// zeros stay zero, which the SDK reads as its default.
func TestOptions(t *testing.T) {
	o := Options{StopTimeout: time.Minute, Activities: 200, WorkflowTasks: 50, Pollers: 8, ActivitiesPerSecond: 10, TaskQueueActivitiesPerSecond: 40}.sdk()
	assert.Equal(t, time.Minute, o.WorkerStopTimeout)
	assert.Equal(t, 200, o.MaxConcurrentActivityExecutionSize)
	assert.Equal(t, 200, o.MaxConcurrentLocalActivityExecutionSize)
	assert.Equal(t, 50, o.MaxConcurrentWorkflowTaskExecutionSize)
	assert.Equal(t, 8, o.MaxConcurrentActivityTaskPollers)
	assert.Equal(t, 8, o.MaxConcurrentWorkflowTaskPollers)
	assert.Equal(t, 10.0, o.WorkerActivitiesPerSecond)
	assert.Equal(t, 40.0, o.TaskQueueActivitiesPerSecond)
	zero := Options{}.sdk()
	assert.Zero(t, zero.MaxConcurrentActivityExecutionSize)
	assert.Zero(t, zero.TaskQueueActivitiesPerSecond)
}
