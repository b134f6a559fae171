package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/certfleet/certfleet/activities"
)

var item = activities.Item{JobID: 42, DeviceID: "cam-1", ProfileID: 7, CertType: "tls"}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(CertificateJob)
	env.RegisterWorkflow(DeviceCertificate)
	env.RegisterActivity(&activities.Activities{})
	return env
}

func permanent(errType string) error {
	return temporal.NewNonRetryableApplicationError("refused", errType, nil)
}

// runDevice runs one DeviceCertificate with the given step mocks and returns
// its outcome and the outcome it recorded through FinishItem, if any.
func runDevice(t *testing.T, mocks func(env *testsuite.TestWorkflowEnvironment)) (string, string) {
	t.Helper()
	env := newEnv(t)
	recorded := ""
	env.OnActivity(acts.FinishItem, mock.Anything, item, mock.Anything, mock.Anything).Return(
		func(_ context.Context, _ activities.Item, outcome, _ string) error { recorded = outcome; return nil }).Maybe()
	signalled := ""
	env.OnSignalExternalWorkflow(mock.Anything, "certjob/42", "", SignalItemDone, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error { signalled = arg.(ItemDone).Outcome; return nil })
	mocks(env)
	env.ExecuteWorkflow(DeviceCertificate, DeviceInput{Item: item, JobWorkflowID: "certjob/42", StepDeadline: 5 * time.Minute})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var outcome string
	require.NoError(t, env.GetWorkflowResult(&outcome))
	assert.Equal(t, outcome, signalled, "the job hears the outcome")
	env.AssertExpectations(t)
	return outcome, recorded
}

var (
	csrWithPrior = activities.CSRResult{CSR: []byte{0x30}, PriorCertificateID: 11}
	issued       = activities.Submission{Status: "issued", CertificateID: 12, MaxWait: time.Hour}
)

func TestDeviceStateMachine(t *testing.T) {
	type step = func(env *testsuite.TestWorkflowEnvironment)
	csrOK := func(env *testsuite.TestWorkflowEnvironment) {
		env.OnActivity(acts.GetCSR, mock.Anything, item).Return(csrWithPrior, nil).Once()
	}
	submit := func(s activities.Submission, err error) step {
		return func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.SubmitCSR, mock.Anything, item, csrWithPrior.CSR).Return(s, err).Once()
		}
	}
	install := func(err error) step {
		return func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.Install, mock.Anything, item, int64(12)).Return(err).Once()
		}
	}
	revoke := func(outcome string, err error) step {
		return func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.RevokePrior, mock.Anything, item, int64(11)).Return(outcome, err).Once()
		}
	}
	cases := []struct {
		name            string
		steps           []step
		outcome, finish string // finish: what FinishItem recorded ("" when the last step did)
	}{
		{"succeeded", []step{csrOK, submit(issued, nil), install(nil), revoke(activities.Succeeded, nil)}, activities.Succeeded, ""},
		{"revoke n/a", []step{csrOK, submit(issued, nil), install(nil), revoke(activities.RevokeNA, nil)}, activities.RevokeNA, ""},
		{"revoke warning", []step{csrOK, submit(issued, nil), install(nil), revoke("", permanent(activities.ErrCAPermanent))}, activities.RevokeWarning, activities.RevokeWarning},
		{"device refuses a CSR", []step{func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.GetCSR, mock.Anything, item).Return(activities.CSRResult{}, permanent(activities.ErrDevicePermanent)).Once()
		}}, activities.DeviceFailure, activities.DeviceFailure},
		{"CSR breaks the profile", []step{func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.GetCSR, mock.Anything, item).Return(activities.CSRResult{}, permanent(activities.ErrCSRRefused)).Once()
		}}, activities.DeviceFailure, activities.DeviceFailure},
		{"device unreachable past the deadline", []step{func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.GetCSR, mock.Anything, item).Return(activities.CSRResult{}, errors.New("connection refused"))
		}}, activities.DeviceFailure, activities.DeviceFailure},
		{"device disabled since the job was created", []step{func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.GetCSR, mock.Anything, item).Return(activities.CSRResult{}, permanent(activities.ErrDeviceSkipped)).Once()
		}}, activities.Skipped, activities.Skipped},
		{"CA rejects", []step{csrOK, submit(activities.Submission{Status: "rejected", Reason: "policy"}, nil)}, activities.CAFailure, activities.CAFailure},
		{"CA refuses permanently", []step{csrOK, submit(activities.Submission{}, permanent(activities.ErrCAPermanent))}, activities.CAFailure, activities.CAFailure},
		{"install rejected", []step{csrOK, submit(issued, nil), install(permanent(activities.ErrDevicePermanent))}, activities.DeviceFailure, activities.DeviceFailure},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outcome, finished := runDevice(t, func(env *testsuite.TestWorkflowEnvironment) {
				for _, s := range c.steps {
					s(env)
				}
			})
			assert.Equal(t, c.outcome, outcome)
			assert.Equal(t, c.finish, finished)
		})
	}
}

// TestPendingCAIsPolledUntilIssued: approval mode, approved after two polls.
func TestPendingCAIsPolledUntilIssued(t *testing.T) {
	polls := 0
	outcome, _ := runDevice(t, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnActivity(acts.GetCSR, mock.Anything, item).Return(csrWithPrior, nil)
		env.OnActivity(acts.SubmitCSR, mock.Anything, item, csrWithPrior.CSR).Return(
			activities.Submission{Status: "pending", RequestID: "5", RetryAfter: 30 * time.Second, MaxWait: time.Hour}, nil)
		env.OnActivity(acts.PollCA, mock.Anything, item, "5").Return(func(context.Context, activities.Item, string) (activities.Submission, error) {
			if polls++; polls < 3 {
				return activities.Submission{}, temporal.NewApplicationError("pending", activities.ErrCAPending)
			}
			return issued, nil
		})
		env.OnActivity(acts.Install, mock.Anything, item, int64(12)).Return(nil)
		env.OnActivity(acts.RevokePrior, mock.Anything, item, int64(11)).Return(activities.Succeeded, nil)
	})
	assert.Equal(t, activities.Succeeded, outcome)
	assert.Equal(t, 3, polls)
}

func TestPendingCAGivesUpAfterMaxWait(t *testing.T) {
	outcome, finished := runDevice(t, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnActivity(acts.GetCSR, mock.Anything, item).Return(csrWithPrior, nil)
		env.OnActivity(acts.SubmitCSR, mock.Anything, item, csrWithPrior.CSR).Return(
			activities.Submission{Status: "pending", RequestID: "5", RetryAfter: time.Minute, MaxWait: 10 * time.Minute}, nil)
		env.OnActivity(acts.PollCA, mock.Anything, item, "5").Return(activities.Submission{}, temporal.NewApplicationError("pending", activities.ErrCAPending))
	})
	assert.Equal(t, activities.CAFailure, outcome)
	assert.Equal(t, activities.CAFailure, finished)
}

// TestCancelledDeviceIsHalted: a halted job cancels its devices, which record
// the outcome in a disconnected context and still report to the job.
func TestCancelledDeviceIsHalted(t *testing.T) {
	outcome, finished := runDevice(t, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnActivity(acts.GetCSR, mock.Anything, item).Return(csrWithPrior, nil)
		env.OnActivity(acts.SubmitCSR, mock.Anything, item, csrWithPrior.CSR).After(time.Hour).Return(issued, nil)
		env.RegisterDelayedCallback(env.CancelWorkflow, time.Minute)
	})
	assert.Equal(t, activities.Halted, outcome)
	assert.Equal(t, activities.Halted, finished)
}
