package scep_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// recordDir holds pkiMessages captured from Debian's scepclient, with the RA
// (a throwaway test key) they are encrypted to, so that replay_test.go
// covers the parser without the client. CERTFLEET_RECORD_SCEP=1 captures
// them anew.
const recordDir = "testdata/scepclient"

// recorder keeps the PKIOperation bodies a test server receives.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (r *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost {
			body, err := io.ReadAll(req.Body)
			if err == nil {
				r.mu.Lock()
				r.bodies = append(r.bodies, body)
				r.mu.Unlock()
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, req)
	})
}

// last is the latest body received.
func (r *recorder) last() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[len(r.bodies)-1]
}

// record writes the latest message received as name, and the RA, when
// CERTFLEET_RECORD_SCEP=1.
func (w *world) record(t *testing.T, name string) {
	t.Helper()
	if os.Getenv("CERTFLEET_RECORD_SCEP") != "1" {
		return
	}
	require.NoError(t, os.MkdirAll(recordDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(recordDir, name), w.recorder.last(), 0o644))
	cert, key, err := w.ras.Newest(context.Background())
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	ra := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	require.NoError(t, os.WriteFile(filepath.Join(recordDir, "ra.pem"), ra, 0o644))
}
