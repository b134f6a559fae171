package agentproto

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"

	"github.com/certfleet/certfleet/pki"
)

// maxBody bounds request bodies: a chain of a few certificates fits easily.
const maxBody = 64 << 10

type server struct {
	backend Backend
	auth    Authenticator
}

func (s server) authenticated(next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		credential, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || credential == "" || !s.auth(id, credential) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="certfleet-agent"`)
			writeError(w, Refuse(http.StatusUnauthorized, CodeUnauthorized, "a valid device credential is required"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next(w, r, id)
	}
}

func (s server) csr(w http.ResponseWriter, r *http.Request, id string) {
	var req pki.CSRRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := checkCertType(req.CertType); err != nil {
		writeError(w, err)
		return
	}
	if !req.Key.Supported() {
		writeError(w, Refuse(http.StatusUnprocessableEntity, CodeUnsupportedKey, "key %s is not supported", req.Key))
		return
	}
	der, err := s.backend.GenerateCSR(r.Context(), id, req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, CSRResponse{CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
}

func (s server) install(w http.ResponseWriter, r *http.Request, id string) {
	var req InstallRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := checkCertType(req.CertType); err != nil {
		writeError(w, err)
		return
	}
	chain, err := pki.ParseCertificatesPEM([]byte(req.Chain))
	if err != nil {
		writeError(w, Refuse(http.StatusBadRequest, CodeBadRequest, "chain: %v", err))
		return
	}
	trust, err := parseTrust(req.Trust)
	if err != nil {
		writeError(w, err)
		return
	}
	reloaded, err := s.backend.Install(r.Context(), id, req.CertType, chain, trust)
	if err != nil {
		writeError(w, err)
		return
	}
	sum := sha256.Sum256(chain[0].Raw)
	writeJSON(w, http.StatusOK, InstallResponse{SHA256: hex.EncodeToString(sum[:]), Reloaded: reloaded})
}

func (s server) current(w http.ResponseWriter, r *http.Request, id string) {
	certType := r.URL.Query().Get("cert_type")
	if err := checkCertType(certType); err != nil {
		writeError(w, err)
		return
	}
	chain, err := s.backend.Current(r.Context(), id, certType)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(chain) == 0 {
		writeError(w, Refuse(http.StatusNotFound, CodeNotFound, "no %s certificate is installed", certType))
		return
	}
	writeJSON(w, http.StatusOK, CurrentResponse{Chain: string(pki.EncodeCertificatesPEM(chain...))})
}

func checkCertType(certType string) error {
	if certType != pki.CertTypeTLS && certType != pki.CertTypeIEEE8021X {
		return Refuse(http.StatusBadRequest, CodeBadRequest, "cert_type: want %s or %s, got %q", pki.CertTypeTLS, pki.CertTypeIEEE8021X, certType)
	}
	return nil
}

func decode(r *http.Request, into any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return Refuse(http.StatusRequestEntityTooLarge, CodeBadRequest, "the body is larger than %d bytes", maxBody)
		}
		return Refuse(http.StatusBadRequest, CodeBadRequest, "malformed JSON: %v", err)
	}
	return nil
}

func writeError(w http.ResponseWriter, err error) {
	var refusal *Error
	if !errors.As(err, &refusal) {
		refusal = Refuse(http.StatusInternalServerError, "internal", "the device failed: %v", err)
	}
	var body ErrorResponse
	body.Error.Code, body.Error.Message = refusal.Code, refusal.Message
	writeJSON(w, refusal.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// parseTrust reads an install's trust: CA certificates in PEM, or none.
func parseTrust(data string) ([]*x509.Certificate, error) {
	if data == "" {
		return nil, nil
	}
	trust, err := pki.ParseCertificatesPEM([]byte(data))
	if err != nil {
		return nil, Refuse(http.StatusBadRequest, CodeBadRequest, "trust: %v", err)
	}
	for _, c := range trust {
		if !c.IsCA || !c.BasicConstraintsValid {
			return nil, Refuse(http.StatusBadRequest, CodeBadRequest, "trust: %q is not a CA certificate", c.Subject.String())
		}
	}
	return trust, nil
}
