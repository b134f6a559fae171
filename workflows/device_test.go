package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/vocab"
)

var item = activities.Item{JobID: 42, DeviceID: "cam-1", ProfileID: 7, CertType: "tls"}

// currentPaths is whether runDevice runs CertifyDevice, as a job starts
// since versionDevicePaths, or DeviceCertificate.
var currentPaths bool

// itemAt is the item as the workflow hands it to the activity of step s,
// which records the step: the mocks below prove each activity gets its own.
func itemAt(s vocab.Step) activities.Item {
	it := item
	it.Step = s
	return it
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(CertificateJob)
	env.RegisterWorkflow(DeviceCertificate)
	env.RegisterWorkflow(CertifyDevice)
	env.RegisterWorkflow(CertifyDeviceV2)
	env.RegisterActivity(&activities.Activities{})
	return env
}

func permanent(errType string) error {
	return temporal.NewNonRetryableApplicationError("refused", errType, nil)
}

// runDevice runs one DeviceCertificate with the given step mocks and returns
// its outcome and the outcome it recorded through FinishItem, if any.
func runDevice(t *testing.T, mocks func(env *testsuite.TestWorkflowEnvironment)) (vocab.Outcome, vocab.Outcome) {
	t.Helper()
	env := newEnv(t)
	var recorded vocab.Outcome
	env.OnActivity(acts.FinishItem, mock.Anything, item, mock.Anything, mock.Anything).Return(
		func(_ context.Context, _ activities.Item, outcome vocab.Outcome, _ string) error {
			recorded = outcome
			return nil
		}).Maybe()
	var signalled vocab.Outcome
	env.OnSignalExternalWorkflow(mock.Anything, JobWorkflowID(42), "", SignalItemDone, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error { signalled = arg.(ItemDone).Outcome; return nil })
	mocks(env)
	device := DeviceCertificate
	if currentPaths {
		device = CertifyDevice
	}
	env.ExecuteWorkflow(device, DeviceInput{Item: item, JobWorkflowID: JobWorkflowID(42), StepDeadline: 5 * time.Minute})
	require.True(t, env.IsWorkflowCompleted())
	// A device or CA failure fails the run, after recording and reporting
	// its outcome; any other outcome is the run's result.
	var outcome vocab.Outcome
	if err := env.GetWorkflowError(); err != nil {
		var appErr *temporal.ApplicationError
		require.True(t, errors.As(err, &appErr), "%v", err)
		assert.True(t, appErr.NonRetryable())
		outcome = vocab.Outcome(appErr.Type())
		assert.Contains(t, []vocab.Outcome{vocab.DeviceFailure, vocab.CAFailure}, outcome, "only failures fail the run: %v", err)
	} else {
		require.NoError(t, env.GetWorkflowResult(&outcome))
		assert.NotContains(t, []vocab.Outcome{vocab.DeviceFailure, vocab.CAFailure}, outcome, "a failure fails the run")
	}
	assert.Equal(t, outcome, signalled, "the job hears the outcome")
	env.AssertExpectations(t)
	return outcome, recorded
}

var (
	csrWithPrior = activities.CSRResult{CSR: []byte{0x30}, PriorCertificateID: 11}
	issued       = activities.Submission{Status: vocab.RequestIssued, CertificateID: 12, Certificate: []byte("DER"), MaxWait: time.Hour}
)

func TestDeviceStateMachine(t *testing.T) {
	type step = func(env *testsuite.TestWorkflowEnvironment)
	csrOK := func(env *testsuite.TestWorkflowEnvironment) {
		env.OnActivity(acts.GetCSR, mock.Anything, itemAt(vocab.StepCSR)).Return(csrWithPrior, nil).Once()
	}
	submit := func(s activities.Submission, err error) step {
		return func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.SubmitCSR, mock.Anything, itemAt(vocab.StepSubmit), csrWithPrior.CSR).Return(s, err).Once()
		}
	}
	install := func(err error) step {
		return func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.InstallIssued, mock.Anything, itemAt(vocab.StepInstall), issued.Issued()).Return(err).Once()
		}
	}
	revoke := func(outcome vocab.Outcome, err error) step {
		return func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.RevokePrior, mock.Anything, itemAt(vocab.StepRevoke), int64(11)).Return(outcome, err).Once()
		}
	}
	cases := []struct {
		name            string
		steps           []step
		outcome, finish vocab.Outcome // finish: what FinishItem recorded ("" when the last step did)
	}{
		{"succeeded", []step{csrOK, submit(issued, nil), install(nil), revoke(vocab.Succeeded, nil)}, vocab.Succeeded, ""},
		{"revoke n/a", []step{csrOK, submit(issued, nil), install(nil), revoke(vocab.RevokeNA, nil)}, vocab.RevokeNA, ""},
		{"revoke warning", []step{csrOK, submit(issued, nil), install(nil), revoke("", permanent(activities.ErrCAPermanent))}, vocab.RevokeWarning, vocab.RevokeWarning},
		{"device refuses a CSR", []step{func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.GetCSR, mock.Anything, itemAt(vocab.StepCSR)).Return(activities.CSRResult{}, permanent(activities.ErrDevicePermanent)).Once()
		}}, vocab.DeviceFailure, vocab.DeviceFailure},
		{"CSR breaks the profile", []step{func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.GetCSR, mock.Anything, itemAt(vocab.StepCSR)).Return(activities.CSRResult{}, permanent(activities.ErrCSRRefused)).Once()
		}}, vocab.DeviceFailure, vocab.DeviceFailure},
		{"device unreachable past the deadline", []step{func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.GetCSR, mock.Anything, itemAt(vocab.StepCSR)).Return(activities.CSRResult{}, errors.New("connection refused"))
		}}, vocab.DeviceFailure, vocab.DeviceFailure},
		{"device disabled since the job was created", []step{func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.GetCSR, mock.Anything, itemAt(vocab.StepCSR)).Return(activities.CSRResult{}, permanent(activities.ErrDeviceSkipped)).Once()
		}}, vocab.Skipped, vocab.Skipped},
		{"item halted before its first step", []step{func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(acts.GetCSR, mock.Anything, itemAt(vocab.StepCSR)).Return(activities.CSRResult{}, permanent(activities.ErrItemClosed)).Once()
		}}, vocab.Halted, vocab.Halted},
		{"CA rejects", []step{csrOK, submit(activities.Submission{Status: vocab.RequestRejected, Reason: "policy"}, nil)}, vocab.CAFailure, vocab.CAFailure},
		{"CA refuses permanently", []step{csrOK, submit(activities.Submission{}, permanent(activities.ErrCAPermanent))}, vocab.CAFailure, vocab.CAFailure},
		{"install rejected", []step{csrOK, submit(issued, nil), install(permanent(activities.ErrDevicePermanent))}, vocab.DeviceFailure, vocab.DeviceFailure},
	}
	for _, paths := range []struct{ local, current bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		withCAInProcess(t, paths.local)
		withCurrentPaths(t, paths.current)
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s (CA steps local: %v, current paths: %v)", c.name, paths.local, paths.current), func(t *testing.T) {
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
}

// withCAInProcess sets whether the test item's CA answers in process,
// until the test ends.
func withCAInProcess(t *testing.T, local bool) {
	before := item
	item.CAInProcess = local
	t.Cleanup(func() { item = before })
}

// withCurrentPaths sets whether runDevice's runs are on current paths, until
// the test ends.
func withCurrentPaths(t *testing.T, current bool) {
	before := currentPaths
	currentPaths = current
	t.Cleanup(func() { currentPaths = before })
}

// TestLocalCAStepFallsBack: a CA step run locally whose profile's CA no
// longer answers in process runs again as an activity.
func TestLocalCAStepFallsBack(t *testing.T) {
	withCAInProcess(t, true)
	var locals, remotes []string
	outcome, _ := runDevice(t, func(env *testsuite.TestWorkflowEnvironment) {
		env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
			locals = append(locals, info.ActivityType.Name)
		})
		env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
			remotes = append(remotes, info.ActivityType.Name)
		})
		env.OnActivity(acts.GetCSR, mock.Anything, itemAt(vocab.StepCSR)).Return(csrWithPrior, nil).Once()
		env.OnActivity(acts.SubmitCSR, mock.Anything, itemAt(vocab.StepSubmit), csrWithPrior.CSR).Return(
			activities.Submission{}, permanent(activities.ErrCANotInProcess)).Once()
		env.OnActivity(acts.SubmitCSR, mock.Anything, itemAt(vocab.StepSubmit), csrWithPrior.CSR).Return(issued, nil).Once()
		env.OnActivity(acts.InstallIssued, mock.Anything, itemAt(vocab.StepInstall), issued.Issued()).Return(nil).Once()
		env.OnActivity(acts.RevokePrior, mock.Anything, itemAt(vocab.StepRevoke), int64(11)).Return(vocab.Succeeded, nil).Once()
	})
	assert.Equal(t, vocab.Succeeded, outcome)
	assert.Equal(t, []string{"SubmitCSR", "RevokePrior"}, locals)
	assert.Equal(t, []string{"GetCSR", "SubmitCSR", "InstallIssued"}, remotes)
}

// TestLocalCASteps: when the profile's CA answers in process, the submit
// and revoke steps run as local activities, the device's steps as
// activities; otherwise every step is an activity.
func TestLocalCASteps(t *testing.T) {
	for _, local := range []bool{false, true} {
		withCAInProcess(t, local)
		var locals []string
		runDevice(t, func(env *testsuite.TestWorkflowEnvironment) {
			env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
				locals = append(locals, info.ActivityType.Name)
			})
			env.OnActivity(acts.GetCSR, mock.Anything, itemAt(vocab.StepCSR)).Return(csrWithPrior, nil).Once()
			env.OnActivity(acts.SubmitCSR, mock.Anything, itemAt(vocab.StepSubmit), csrWithPrior.CSR).Return(issued, nil).Once()
			env.OnActivity(acts.InstallIssued, mock.Anything, itemAt(vocab.StepInstall), issued.Issued()).Return(nil).Once()
			env.OnActivity(acts.RevokePrior, mock.Anything, itemAt(vocab.StepRevoke), int64(11)).Return(vocab.Succeeded, nil).Once()
		})
		if local {
			assert.Equal(t, []string{"SubmitCSR", "RevokePrior"}, locals)
		} else {
			assert.Empty(t, locals)
		}
	}
}

// TestPendingCAIsPolledUntilIssued: approval mode, approved after two
// checks; the CA's Retry-After spaces the checks, doubling.
func TestPendingCAIsPolledUntilIssued(t *testing.T) {
	checks := 0
	pending := activities.Submission{Status: vocab.RequestPending, RequestID: "5", RetryAfter: 30 * time.Second, MaxWait: time.Hour}
	outcome, _ := runDevice(t, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnActivity(acts.GetCSR, mock.Anything, itemAt(vocab.StepCSR)).Return(csrWithPrior, nil)
		env.OnActivity(acts.SubmitCSR, mock.Anything, itemAt(vocab.StepSubmit), csrWithPrior.CSR).Return(pending, nil)
		env.OnActivity(acts.CheckCA, mock.Anything, itemAt(vocab.StepPoll), "5").Return(func(context.Context, activities.Item, string) (activities.Submission, error) {
			if checks++; checks < 3 {
				return pending, nil
			}
			return issued, nil
		})
		env.OnActivity(acts.InstallIssued, mock.Anything, itemAt(vocab.StepInstall), issued.Issued()).Return(nil)
		env.OnActivity(acts.RevokePrior, mock.Anything, itemAt(vocab.StepRevoke), int64(11)).Return(vocab.Succeeded, nil)
	})
	assert.Equal(t, vocab.Succeeded, outcome)
	assert.Equal(t, 3, checks)
}

// TestDecisionSignalChecksAtOnce: the CA advises an hourly poll; an
// operator's decision, signalled a minute in, is checked at once.
func TestDecisionSignalChecksAtOnce(t *testing.T) {
	var checkedAfter time.Duration
	outcome, _ := runDevice(t, func(env *testsuite.TestWorkflowEnvironment) {
		start := env.Now()
		env.OnActivity(acts.GetCSR, mock.Anything, itemAt(vocab.StepCSR)).Return(csrWithPrior, nil)
		env.OnActivity(acts.SubmitCSR, mock.Anything, itemAt(vocab.StepSubmit), csrWithPrior.CSR).Return(
			activities.Submission{Status: vocab.RequestPending, RequestID: "5", RetryAfter: time.Hour, MaxWait: 24 * time.Hour}, nil)
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalCADecided, nil) }, time.Minute)
		env.OnActivity(acts.CheckCA, mock.Anything, itemAt(vocab.StepPoll), "5").Return(func(context.Context, activities.Item, string) (activities.Submission, error) {
			checkedAfter = env.Now().Sub(start)
			return issued, nil
		}).Once()
		env.OnActivity(acts.InstallIssued, mock.Anything, itemAt(vocab.StepInstall), issued.Issued()).Return(nil)
		env.OnActivity(acts.RevokePrior, mock.Anything, itemAt(vocab.StepRevoke), int64(11)).Return(vocab.Succeeded, nil)
	})
	assert.Equal(t, vocab.Succeeded, outcome)
	assert.Less(t, checkedAfter, 2*time.Minute, "checked when the decision was signalled, not after the hour")
}

func TestPendingCAGivesUpAfterMaxWait(t *testing.T) {
	outcome, finished := runDevice(t, func(env *testsuite.TestWorkflowEnvironment) {
		pending := activities.Submission{Status: vocab.RequestPending, RequestID: "5", RetryAfter: time.Minute, MaxWait: 10 * time.Minute}
		env.OnActivity(acts.GetCSR, mock.Anything, itemAt(vocab.StepCSR)).Return(csrWithPrior, nil)
		env.OnActivity(acts.SubmitCSR, mock.Anything, itemAt(vocab.StepSubmit), csrWithPrior.CSR).Return(pending, nil)
		env.OnActivity(acts.CheckCA, mock.Anything, itemAt(vocab.StepPoll), "5").Return(pending, nil)
	})
	assert.Equal(t, vocab.CAFailure, outcome)
	assert.Equal(t, vocab.CAFailure, finished)
}

// TestCancelledDeviceIsHalted: a halted job cancels its devices, which record
// the outcome in a disconnected context and still report to the job.
func TestCancelledDeviceIsHalted(t *testing.T) {
	outcome, finished := runDevice(t, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnActivity(acts.GetCSR, mock.Anything, itemAt(vocab.StepCSR)).Return(csrWithPrior, nil)
		env.OnActivity(acts.SubmitCSR, mock.Anything, itemAt(vocab.StepSubmit), csrWithPrior.CSR).After(time.Hour).Return(issued, nil)
		env.RegisterDelayedCallback(env.CancelWorkflow, time.Minute)
	})
	assert.Equal(t, vocab.Halted, outcome)
	assert.Equal(t, vocab.Halted, finished)
}
