package scep_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	smscep "github.com/smallstep/scep"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/drivers/ca/local"
)

// TestGetNextCACertDuringRollover: without a rollover, GetCACaps does not
// offer GetNextCACert and asking for it is a 404; once the CA is renewed,
// GetCACaps offers it, GetCACert carries both issuing CAs, and
// GetNextCACert answers the next CA and its root in a SignedData that the RA
// signed.
func TestGetNextCACertDuringRollover(t *testing.T) {
	w := newWorld(t)
	resp, body := w.get(t, "/scep/phones?operation=GetCACaps")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotContains(t, string(body), "GetNextCACert")
	resp, body = w.get(t, "/scep/phones?operation=GetNextCACert")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, string(body))

	set := local.SetOf(w.ca)
	next, err := set.Renew(context.Background(), "default", time.Hour, nil)
	require.NoError(t, err)

	resp, body = w.get(t, "/scep/phones?operation=GetCACaps")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, strings.Split(string(body), "\n"), "GetNextCACert")

	resp, body = w.get(t, "/scep/phones?operation=GetCACert")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	certs, err := smscep.CACerts(body)
	require.NoError(t, err)
	var subjects []string
	for _, c := range certs {
		subjects = append(subjects, c.Subject.String())
	}
	assert.Contains(t, subjects, next.Issuing.Subject, "GetCACert publishes the next CA during the overlap")

	resp, body = w.get(t, "/scep/phones?operation=GetNextCACert")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, "application/x-x509-next-ca-cert", resp.Header.Get("Content-Type"))
	p7, err := pkcs7.Parse(body)
	require.NoError(t, err)
	require.NoError(t, p7.Verify(), "signed by the RA")
	ra := w.raCert(t)
	signer := p7.GetOnlySigner()
	require.NotNil(t, signer)
	assert.True(t, signer.Equal(ra), "the RA GetCACert hands out signed it")
	_, root := w.ca.Certificates()
	var got []string
	for _, c := range p7.Certificates {
		if !c.Equal(ra) {
			got = append(got, c.Subject.String())
		}
	}
	assert.Equal(t, []string{next.Issuing.Subject, root.Subject.String()}, got)
}
