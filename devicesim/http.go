package devicesim

import (
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/certfleet/certfleet/agentproto"
	"github.com/certfleet/certfleet/pki"
)

// Handler serves the fleet: the agent protocol below /devices/{id}, and the
// admin API, which takes the master secret as its bearer credential:
//
//	GET /devices/{id}          a device's state
//	PUT /devices/{id}/faults   set a device's faults (JSON Faults; {} clears them)
//	PUT /faults                set the fleet's fault rates (JSON Rates)
//
// Camera modes add their own protocols beside it.
func (f *Fleet) Handler(cameras ...Protocol) http.Handler {
	protocol := http.NewServeMux()
	agentproto.Register(protocol, "/devices/{id}", f, f.Authenticate)

	mux := http.NewServeMux()
	mux.Handle("/devices/{id}/v1/", f.WithFaults(protocol))
	for _, camera := range cameras {
		camera.Register(mux, f)
	}
	mux.HandleFunc("GET /devices/{id}", f.admin(f.state))
	mux.HandleFunc("PUT /devices/{id}/faults", f.admin(f.setFaults))
	mux.HandleFunc("PUT /faults", f.admin(f.setRates))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return mux
}

// Protocol is a simulated device protocol other than the agent's: it serves
// every device of the fleet on mux, with the device ID as the {id} path value.
type Protocol interface {
	Register(mux *http.ServeMux, fleet *Fleet)
}

// WithFaults plays the transport-level faults before the protocol runs:
// dropped connections, latency, and flapping. The device ID is the request's
// {id} path value.
func (f *Fleet) WithFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		d, err := f.device(id)
		if err != nil {
			next.ServeHTTP(w, r) // the protocol answers 404
			return
		}
		faults := f.faults(id, d)
		if faults.Unreachable {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		if faults.SlowMS != nil {
			lo, hi := faults.SlowMS[0], max(faults.SlowMS[0], faults.SlowMS[1])
			delay := time.Duration(lo+rand.IntN(hi-lo+1)) * time.Millisecond
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		d.mu.Lock()
		flapping := d.flapsLeft > 0
		if flapping {
			d.flapsLeft--
		}
		d.mu.Unlock()
		if flapping {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":{"code":"busy","message":"simulated flapping"}}`, http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (f *Fleet) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(token), []byte(f.master)) != 1 {
			http.Error(w, "the admin API needs the fleet's master secret", http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

// State is what GET /devices/{id} shows.
type State struct {
	ID           string                 `json:"id"`
	Faults       Faults                 `json:"faults"`
	PendingKeys  map[string]string      `json:"pending_keys"`
	Certificates map[string]Certificate `json:"certificates"`
	// Trust are the subjects of the CA certificates installed to trust, by type.
	Trust map[string][]string `json:"trust"`
	Calls map[string]int      `json:"calls"`
}

// Certificate describes an installed certificate.
type Certificate struct {
	Subject  string    `json:"subject"`
	Serial   string    `json:"serial"`
	SHA256   string    `json:"sha256"`
	NotAfter time.Time `json:"not_after"`
}

func (f *Fleet) state(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, err := f.device(id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	faults := f.faults(id, d)
	d.mu.Lock()
	s := State{ID: id, Faults: faults, PendingKeys: map[string]string{}, Certificates: map[string]Certificate{}, Trust: map[string][]string{}, Calls: map[string]int{}}
	for certType, key := range d.pending {
		spec, _ := pki.SpecOf(key.Public())
		s.PendingKeys[certType] = spec.String()
	}
	for certType, chain := range d.installed {
		s.Certificates[certType] = Certificate{
			Subject: chain[0].Subject.String(), Serial: chain[0].SerialNumber.Text(16),
			SHA256: hex.EncodeToString(pki.Fingerprint(chain[0])), NotAfter: chain[0].NotAfter,
		}
	}
	for certType, trust := range d.trust {
		for _, c := range trust {
			s.Trust[certType] = append(s.Trust[certType], c.Subject.String())
		}
	}
	for op, n := range d.calls {
		s.Calls[op] = n
	}
	d.mu.Unlock()
	writeJSON(w, s)
}

func (f *Fleet) setFaults(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, err := f.device(id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	var faults Faults
	if !decodeStrict(w, r, &faults) {
		return
	}
	d.mu.Lock()
	d.explicit, d.flapsLeft = &faults, faults.FlapFailures
	d.mu.Unlock()
	writeJSON(w, faults)
}

func (f *Fleet) setRates(w http.ResponseWriter, r *http.Request) {
	var rates Rates
	if !decodeStrict(w, r, &rates) {
		return
	}
	f.mu.Lock()
	f.rates = rates
	// Devices already seen take their new flapping budget now.
	for id, d := range f.devices {
		if d.explicit == nil {
			d.flapsLeft = rates.faultsFor(id).FlapFailures
		}
	}
	f.mu.Unlock()
	writeJSON(w, rates)
}

func decodeStrict(w http.ResponseWriter, r *http.Request, into any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		http.Error(w, "malformed JSON: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
