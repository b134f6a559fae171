package scep

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseRequest: no pkiMessage, however malformed, makes the parser or
// the decryption panic; each is read or refused. The seeds are the messages
// recorded from scepclient, which `make test` runs.
func FuzzParseRequest(f *testing.F) {
	for _, name := range []string{"pkcsreq.der", "renewalreq.der"} {
		der, err := os.ReadFile(filepath.Join(recorded, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x80})
	f.Add([]byte("garbage"))
	ras := []ra{recordedRA(f)}
	f.Fuzz(func(t *testing.T, der []byte) {
		q, err := parseRequest(der)
		if err != nil {
			if _, ok := err.(malformed); !ok {
				t.Fatalf("a parse error is not reported as malformed: %v", err)
			}
			return
		}
		if q.signer == nil || q.transactionID == "" {
			t.Fatal("a parsed request without signer or transaction")
		}
		if _, _, err := q.csr(ras); err != nil {
			if _, ok := err.(*failure); !ok {
				t.Fatalf("a content error is no failure: %v", err)
			}
		}
	})
}
