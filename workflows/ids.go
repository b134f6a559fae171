package workflows

import (
	"fmt"
	"strconv"
)

// JobWorkflowID is the workflow ID of certificate job jobID: certjob/<jobID>.
func JobWorkflowID(jobID int64) string { return "certjob/" + strconv.FormatInt(jobID, 10) }

// DeviceWorkflowID is the workflow ID of one device in a job:
// certjob/<jobID>/device/<deviceID>.
func DeviceWorkflowID(jobID int64, deviceID string) string {
	return fmt.Sprintf("certjob/%d/device/%s", jobID, deviceID)
}

// Messages between job and device workflows, and what the API may call.
const (
	SignalItemDone = "item-done" // device → job: one item finished (ItemDone)
	SignalHalt     = "halt"      // API → job: stop starting devices, cancel those running
	QueryProgress  = "progress"  // API → job: Progress
)
