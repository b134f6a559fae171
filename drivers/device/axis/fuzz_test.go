package axis_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/drivers"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/axis"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/pki"
)

// FuzzAnswers has a fake camera answer every call with any status and body:
// the driver never panics, and every failure it returns is classified.
func FuzzAnswers(f *testing.F) {
	f.Add(uint16(200), []byte(`{"status":"success","data":[{"alias":"certfleet-tls-1","certificate":"x"}]}`), false)
	f.Add(uint16(200), []byte(`<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><GetWebServerTlsConfigurationResponse xmlns="http://www.axis.com/vapix/ws/webserver"><Configuration><Tls>true</Tls><CertificateSet><Certificates xmlns="http://www.axis.com/vapix/ws/cert"><Id>a</Id></Certificates></CertificateSet></Configuration></GetWebServerTlsConfigurationResponse></env:Body></env:Envelope>`), false)
	f.Add(uint16(400), []byte(`{"status":"error","error":{"code":2100,"message":"bad"}}`), true)
	f.Add(uint16(503), []byte(`busy`), false)
	f.Add(uint16(302), []byte(``), true)
	f.Add(uint16(200), []byte(`{"apiVersion":"1.0","method":"getClientStatus","data":{"config":{"server":{"host":"b"},"ssl":{"clientCertID":"a"}}}} `), false)
	f.Add(uint16(200), []byte(`{"apiVersion":"1.0","error":{"code":1100,"message":"internal"}}`), false)
	f.Add(uint16(200), []byte(`{"status":"success","data":"-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----"}`), true)

	var mu sync.Mutex
	var status int
	var body []byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s, b := status, body
		mu.Unlock()
		if s == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256`)
		}
		if s >= 300 && s < 400 {
			w.Header().Set("Location", "https://elsewhere.example/")
		}
		w.WriteHeader(s)
		_, _ = w.Write(b)
	}))
	f.Cleanup(srv.Close)
	driver := axis.New(&testenv.MemPins{}, 2*time.Second)
	dev := device.Device{ID: "cam-fuzz", Address: srv.URL, Credential: secret.Secret{Kind: secret.Password, Username: "root", Value: "hunter2-secret"}}

	f.Fuzz(func(t *testing.T, code uint16, answer []byte, csr bool) {
		s := 200 + int(code)%400
		if s == 204 || s == 304 || (s >= 100 && s < 200) {
			s = 200
		}
		mu.Lock()
		status, body = s, answer
		mu.Unlock()
		ctx := context.Background()
		var err error
		if csr {
			_, err = driver.GenerateCSR(ctx, dev, pki.CSRRequest{CertType: pki.CertTypeTLS, Key: p256, Subject: pki.CSRSubject{CommonName: "x"}})
		} else {
			d := dev
			if len(answer)%2 == 1 { // odd answers go to the MQTT client's certificate
				d.Uses = map[string]device.Use{pki.CertTypeTLS: {Binding: device.BindingMQTT}}
			}
			_, err = driver.Current(ctx, d, pki.CertTypeTLS)
		}
		if err == nil {
			return
		}
		var classified *drivers.Error
		if !errors.As(err, &classified) {
			t.Fatalf("unclassified error: %v", err)
		}
		if strings.Contains(err.Error(), "hunter2-secret") {
			t.Fatalf("the password leaked into an error: %v", err)
		}
		if s >= 500 && device.IsPermanent(err) && !strings.Contains(err.Error(), "malformed") {
			t.Fatalf("a %d answer is permanent: %v", s, err)
		}
	})
}
