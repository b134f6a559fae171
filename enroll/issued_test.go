package enroll

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/activities"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/vocab"
)

// TestIssuedNowIsNotReadBack: a certificate this request's own submission
// issued is handed out as it came, without the inventory (the service here
// has none: a read would panic); and that it was issued now never reaches
// history, where a repeated request long after would find it.
func TestIssuedNowIsNotReadBack(t *testing.T) {
	issued := testpki.NewCA(t, "Issued Now").Cert
	sub := activities.Submission{Status: vocab.RequestIssued, CertificateID: 7, Certificate: issued.Raw, IssuedNow: true}
	cert, err := (&Service{}).Issued(context.Background(), sub)
	require.NoError(t, err)
	assert.True(t, cert.Equal(issued))

	recorded, err := json.Marshal(sub)
	require.NoError(t, err)
	var replayed activities.Submission
	require.NoError(t, json.Unmarshal(recorded, &replayed))
	assert.False(t, replayed.IssuedNow)
	assert.NotContains(t, string(recorded), "IssuedNow")
}
