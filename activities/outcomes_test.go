package activities

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/certfleet/certfleet/vocab"
)

func TestOutcomesReachEveryWaiterOfTheirEnrollment(t *testing.T) {
	var o Outcomes
	first, stopFirst := o.Await("est/cam-1/a")
	second, stopSecond := o.Await("est/cam-1/a") // a retry of the same request, waiting beside it
	other, stopOther := o.Await("est/cam-2/b")
	defer stopOther()

	issued := Submission{Status: vocab.RequestIssued, CertificateID: 7}
	o.settle("est/cam-1/a", issued)
	assert.Equal(t, issued, <-first)
	assert.Equal(t, issued, <-second)
	assert.Empty(t, other, "another enrollment hears nothing")

	o.settle("est/cam-1/a", issued) // a replayed run books again: nobody blocks
	stopFirst()
	stopSecond()
	assert.NotContains(t, o.waiting, "est/cam-1/a", "a stopped wait is forgotten")
	assert.Contains(t, o.waiting, "est/cam-2/b")
}

func TestNilOutcomesTellNoOne(t *testing.T) {
	var o *Outcomes
	ch, stop := o.Await("est/cam-1/a")
	o.settle("est/cam-1/a", Submission{Status: vocab.RequestIssued})
	stop()
	assert.Nil(t, ch, "a nil channel, never ready in a select")
}

func TestOnlyEnrollmentsThatCannotBeDiscardedSettleAtOnce(t *testing.T) {
	assert.True(t, Enrollment{}.settlesAtOnce())
	assert.False(t, Enrollment{ServerKeyGen: true}.settlesAtOnce(), "a generated key's certificate may still be discarded")
	assert.False(t, Enrollment{Discard: true}.settlesAtOnce())
}
