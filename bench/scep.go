package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"

	smscep "github.com/smallstep/scep"
	"github.com/smallstep/scep/x509util"
)

// scepPool is the devices of the SCEP series, each with its PKCSReq made
// before the clock starts, and what a client needs to read the answers.
type scepPool struct {
	*devicePool
	url        string // PKIOperation on the bench label
	ra         []*x509.Certificate
	signerKey  *rsa.PrivateKey
	signerCert *x509.Certificate
}

// scepChallenge is device id's one-time challenge password.
func scepChallenge(id string) string { return "bench-scep-challenge-" + id }

// scepDevices registers n devices, each with a one-time challenge, and makes
// each one's PKCSReq: a CSR for a new EC P-256 key with the challenge,
// encrypted to the RA and signed, as a client's first request is, with a
// self-signed RSA certificate (one for all: RSA keys are slow to make).
func (s *stack) scepDevices(ctx context.Context, n int) (*scepPool, error) {
	err := s.registerDevices(ctx, "scep-", n, `
		INSERT INTO scep_challenges (secret_sha256, device_id, expires_at, created_by)
		SELECT sha256(convert_to($1 || id, 'UTF8')), id, now() + interval '1 day', 'bench' FROM d`, scepChallenge(""))
	if err != nil {
		return nil, fmt.Errorf("register SCEP devices: %w", err)
	}
	base := "http://" + s.scepAddr + "/scep/" + scepLabel
	resp, err := http.Get(base + "?operation=GetCACert")
	if err != nil {
		return nil, fmt.Errorf("SCEP GetCACert: %w", err)
	}
	body, err := readOK(resp)
	if err != nil {
		return nil, fmt.Errorf("SCEP GetCACert: %w", err)
	}
	certs, err := smscep.CACerts(body)
	if err != nil {
		return nil, fmt.Errorf("SCEP GetCACert: %w", err)
	}
	p := &scepPool{url: base + "?operation=PKIOperation", ra: smscep.EnciphermentCertsSelector().SelectCerts(certs)}
	if len(p.ra) != 1 {
		return nil, fmt.Errorf("SCEP GetCACert: want one RA certificate that can encipher, got %d of %d", len(p.ra), len(certs))
	}
	if p.signerKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench scep client"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, p.signerKey.Public(), p.signerKey)
	if err != nil {
		return nil, err
	}
	if p.signerCert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	p.devicePool, err = makeDevices(n, func(i int, d *device) error {
		d.id = fmt.Sprintf("scep-%05d", i)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		der, err := x509util.CreateCertificateRequest(rand.Reader, &x509util.CertificateRequest{
			CertificateRequest: x509.CertificateRequest{Subject: pkix.Name{CommonName: d.id}}, ChallengePassword: scepChallenge(d.id),
		}, key)
		if err != nil {
			return err
		}
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			return err
		}
		msg, err := smscep.NewCSRRequest(csr, &smscep.PKIMessage{MessageType: smscep.PKCSReq, Recipients: p.ra, SignerKey: p.signerKey, SignerCert: p.signerCert})
		if err != nil {
			return err
		}
		d.pkcsReq = msg.Raw
		return nil
	})
	return p, err
}

// enroll sends d's PKCSReq and checks the answer as a client must: a CertRep
// signed by the RA, SUCCESS, with a certificate it can decrypt.
func (p *scepPool) enroll(cl *http.Client, d device) error {
	resp, err := cl.Post(p.url, "application/x-pki-message", bytes.NewReader(d.pkcsReq))
	if err != nil {
		return err
	}
	body, err := readOK(resp)
	if err != nil {
		return err
	}
	rep, err := smscep.ParsePKIMessage(body, smscep.WithCACerts(p.ra))
	if err != nil {
		return fmt.Errorf("%s: CertRep: %w", d.id, err)
	}
	if rep.PKIStatus != smscep.SUCCESS {
		return fmt.Errorf("%s: PKIStatus %s, failInfo %s", d.id, rep.PKIStatus, rep.FailInfo)
	}
	if err := rep.DecryptPKIEnvelope(p.signerCert, p.signerKey); err != nil {
		return fmt.Errorf("%s: CertRep: %w", d.id, err)
	}
	if rep.CertRepMessage == nil || rep.CertRepMessage.Certificate == nil {
		return fmt.Errorf("%s: the CertRep holds no certificate", d.id)
	}
	return nil
}

// readOK reads an answer's body, an error unless it is 200 OK.
func readOK(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return body, nil
}
