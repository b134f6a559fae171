package axis

import (
	"io"
	"net/http"
	"slices"

	"github.com/certfleet/certfleet/vapixwire"
)

// soap serves /vapix/services: the web server TLS configuration (HTTPS
// binding) and the ONVIF IEEE 802.1X configuration. Bad requests get a
// SOAP Sender fault with status 400; nothing here answers 5xx.
func (h *handler) soap(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	faults, err := h.fleet.FaultsOf(id)
	if err != nil {
		writeSOAP(w, http.StatusNotFound, vapixwire.SenderFault("ter:NotFound", "no simulated camera"))
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(data) > maxBody {
		writeSOAP(w, http.StatusBadRequest, vapixwire.SenderFault("ter:InvalidArgs", "unreadable or oversized request"))
		return
	}
	env, err := vapixwire.UnmarshalEnvelope(data)
	if err != nil {
		writeSOAP(w, http.StatusBadRequest, vapixwire.SenderFault("ter:InvalidArgs", err.Error()))
		return
	}
	c, err := h.sim.camera(id)
	if err != nil {
		writeSOAP(w, http.StatusServiceUnavailable, vapixwire.Body{Fault: &vapixwire.Fault{
			Code: vapixwire.FaultCode{Value: "env:Receiver"}, Reason: vapixwire.FaultReason{Text: "camera not ready"}}})
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := env.Body
	switch {
	case b.GetWebServerTlsConfiguration != nil:
		writeSOAP(w, http.StatusOK, vapixwire.Body{GetWebServerTlsConfigurationResponse: &vapixwire.GetWebServerTlsConfigurationResponse{Configuration: c.tls}})
	case b.SetWebServerTlsConfiguration != nil:
		cfg := b.SetWebServerTlsConfiguration.Configuration
		if reason := c.checkSet(cfg.CertificateSet.Certificates.ID, cfg.CertificateSet.CACertificates.ID); reason != "" {
			writeSOAP(w, http.StatusBadRequest, vapixwire.SenderFault("ter:InvalidArgVal", reason))
			return
		}
		if faults.InstallFailure {
			writeSOAP(w, http.StatusBadRequest, vapixwire.SenderFault("ter:OperationProhibited", "simulated install failure"))
			return
		}
		c.tls = cfg
		c.calls["bind_https"]++
		writeSOAP(w, http.StatusOK, vapixwire.Body{SetWebServerTlsConfigurationResponse: &vapixwire.Empty{}})
	case b.GetDot1XConfiguration != nil:
		if b.GetDot1XConfiguration.Dot1XConfigurationToken != c.dot1x.Dot1XConfigurationToken {
			writeSOAP(w, http.StatusBadRequest, vapixwire.SenderFault("ter:InvalidArgVal", "no IEEE 802.1X configuration of that token"))
			return
		}
		writeSOAP(w, http.StatusOK, vapixwire.Body{GetDot1XConfigurationResponse: &vapixwire.GetDot1XConfigurationResponse{Dot1XConfiguration: c.dot1x}})
	case b.SetDot1XConfiguration != nil:
		cfg := b.SetDot1XConfiguration.Dot1XConfiguration
		if cfg.Dot1XConfigurationToken != c.dot1x.Dot1XConfigurationToken {
			writeSOAP(w, http.StatusBadRequest, vapixwire.SenderFault("ter:InvalidArgVal", "no IEEE 802.1X configuration of that token"))
			return
		}
		if cfg.EAPMethod != vapixwire.EAPMethodTLS || cfg.EAPMethodConfiguration == nil || cfg.EAPMethodConfiguration.TLSConfiguration == nil {
			writeSOAP(w, http.StatusBadRequest, vapixwire.SenderFault("ter:InvalidArgVal", "only EAP-TLS (13) with a TLSConfiguration is supported"))
			return
		}
		if reason := c.checkSet([]string{cfg.EAPMethodConfiguration.TLSConfiguration.CertificateID}, cfg.CACertificateID); reason != "" {
			writeSOAP(w, http.StatusBadRequest, vapixwire.SenderFault("ter:InvalidArgVal", reason))
			return
		}
		if faults.InstallFailure {
			writeSOAP(w, http.StatusBadRequest, vapixwire.SenderFault("ter:OperationProhibited", "simulated install failure"))
			return
		}
		c.dot1x = cfg
		c.calls["bind_ieee8021x"]++
		writeSOAP(w, http.StatusOK, vapixwire.Body{SetDot1XConfigurationResponse: &vapixwire.Empty{}})
	default:
		writeSOAP(w, http.StatusBadRequest, vapixwire.SenderFault("ter:ActionNotSupported", "the operation is not supported"))
	}
}

// checkSet checks that exactly one certificate is named and that it and the
// CA certificates exist.
func (c *camera) checkSet(certs, cas []string) string {
	if len(certs) != 1 {
		return "name exactly one certificate"
	}
	if _, ok := c.certs[certs[0]]; !ok {
		return "no certificate " + certs[0]
	}
	for _, ca := range cas {
		if _, ok := c.cas[ca]; !ok {
			return "no CA certificate " + ca
		}
	}
	if len(cas) != len(slices.Compact(slices.Sorted(slices.Values(cas)))) {
		return "a CA certificate is named twice"
	}
	return ""
}

func writeSOAP(w http.ResponseWriter, status int, body vapixwire.Body) {
	data, err := vapixwire.MarshalEnvelope(body)
	if err != nil {
		status = http.StatusBadRequest
		data = []byte("cannot marshal answer")
	}
	w.Header().Set("Content-Type", vapixwire.SOAPContentType)
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
