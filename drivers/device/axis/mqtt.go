package axis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/vapixwire"
)

// mqttContext is the context certfleet sends with MQTT client API requests.
const mqttContext = "certfleet"

// mqttCall makes one MQTT client API call and returns its data. An error
// object is permanent, except the internal error (1100), which is transient.
func mqttCall(ctx context.Context, s *session, op, method string, params any) (json.RawMessage, error) {
	req := vapixwire.MQTTRequest{APIVersion: vapixwire.MQTTAPIVersion, Context: mqttContext, Method: method}
	if params != nil {
		raw, err := json.Marshal(params)
		if err != nil {
			return nil, device.Permanent(fmt.Errorf("camera %s: %s: %w", s.dev.ID, op, err))
		}
		req.Params = raw
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, device.Permanent(fmt.Errorf("camera %s: %s: %w", s.dev.ID, op, err))
	}
	status, data, err := s.do(ctx, op, http.MethodPost, vapixwire.PathMQTTClient, "application/json", body)
	if err != nil {
		return nil, err
	}
	answer, parseErr := vapixwire.DecodeMQTTResponse(data)
	if status < 200 || status >= 300 {
		detail := snippet(data)
		if parseErr == nil && answer.Error != nil {
			detail = answer.Error.Error()
		}
		return nil, s.classify(op, status, detail)
	}
	if parseErr != nil {
		return nil, device.Permanent(fmt.Errorf("camera %s: %s: %w", s.dev.ID, op, parseErr))
	}
	if answer.Error != nil {
		err := fmt.Errorf("camera %s: %s: %w", s.dev.ID, op, answer.Error)
		if answer.Error.Code == vapixwire.MQTTCodeInternal {
			return nil, device.Transient(err)
		}
		return nil, device.Permanent(err)
	}
	return answer.Data, nil
}

// mqttClientConfig is the MQTT client configuration as the camera returns it:
// every field kept as raw JSON, so that what certfleet resends is what it
// read, apart from the fields it means to change.
type mqttClientConfig struct {
	fields map[string]json.RawMessage
	ssl    map[string]json.RawMessage // the "ssl" object's fields
	server vapixwire.MQTTServer
	tls    vapixwire.MQTTSSL // typed view of ssl
}

// readMQTTConfig reads the MQTT client configuration with getClientStatus.
func readMQTTConfig(ctx context.Context, s *session) (*mqttClientConfig, error) {
	const op = "read MQTT client configuration"
	data, err := mqttCall(ctx, s, op, vapixwire.MQTTGetClientStatus, nil)
	if err != nil {
		return nil, err
	}
	bad := func(err error) error {
		return device.Permanent(fmt.Errorf("camera %s: %s: unexpected answer: %w", s.dev.ID, op, err))
	}
	var status struct {
		Config map[string]json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(data, &status); err != nil {
		return nil, bad(err)
	}
	if status.Config == nil {
		return nil, bad(fmt.Errorf("no config"))
	}
	cfg := &mqttClientConfig{fields: status.Config, ssl: map[string]json.RawMessage{}}
	if raw, ok := cfg.fields["server"]; ok {
		if err := json.Unmarshal(raw, &cfg.server); err != nil {
			return nil, bad(fmt.Errorf("server: %w", err))
		}
	}
	if raw, ok := cfg.fields[vapixwire.MQTTFieldSSL]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &cfg.ssl); err != nil {
			return nil, bad(fmt.Errorf("ssl: %w", err))
		}
		if err := json.Unmarshal(raw, &cfg.tls); err != nil {
			return nil, bad(fmt.Errorf("ssl: %w", err))
		}
	}
	return cfg, nil
}

func readMQTT(ctx context.Context, s *session) (bindState, error) {
	cfg, err := readMQTTConfig(ctx, s)
	if err != nil {
		return bindState{}, err
	}
	st := bindState{alias: cfg.tls.ClientCertID}
	if cfg.tls.CACertID != "" {
		st.cas = []string{cfg.tls.CACertID}
	}
	return st, nil
}

// bindMQTT makes alias the MQTT client's certificate (ssl.clientCertID) and,
// when the use has trust, the trust alias the CA certificate that validates
// the broker (ssl.CACertID, with ssl.validateServerCert on). Everything else
// is resent as read: the broker, the client ID, the username, the messages;
// the password, which the camera does not return, is kept with
// keepExistingPassword. A client without a broker, or one that does not
// connect over TLS (ssl or wss), is refused: the certificate would not be
// used.
func bindMQTT(ctx context.Context, s *session, alias string, _, trust []string) error {
	cfg, err := readMQTTConfig(ctx, s)
	if err != nil {
		return err
	}
	switch {
	case cfg.server.Host == "":
		return device.Permanent(fmt.Errorf("camera %s: its MQTT client has no broker; configure the broker on the camera before binding a client certificate", s.dev.ID))
	case cfg.server.Protocol != vapixwire.MQTTProtocolSSL && cfg.server.Protocol != vapixwire.MQTTProtocolWSS:
		return device.Permanent(fmt.Errorf("camera %s: its MQTT client connects to %s over %q, not TLS (ssl or wss); a client certificate would not be used",
			s.dev.ID, cfg.server.Host, cfg.server.Protocol))
	}
	want := cfg.tls
	want.ClientCertID = alias
	if len(trust) > 0 {
		want.CACertID, want.ValidateServerCert = trust[0], true
	}
	if want == cfg.tls {
		return nil
	}
	set := func(m map[string]json.RawMessage, key string, v any) {
		raw, _ := json.Marshal(v) // strings and bools
		m[key] = raw
	}
	set(cfg.ssl, "clientCertID", want.ClientCertID)
	set(cfg.ssl, "validateServerCert", want.ValidateServerCert)
	if want.CACertID != "" {
		set(cfg.ssl, "CACertID", want.CACertID)
	}
	set(cfg.fields, vapixwire.MQTTFieldSSL, cfg.ssl)
	delete(cfg.fields, vapixwire.MQTTFieldPassword)
	set(cfg.fields, vapixwire.MQTTFieldKeepExistingPassword, true)
	_, err = mqttCall(ctx, s, "bind "+alias+" to the MQTT client", vapixwire.MQTTConfigureClient, cfg.fields)
	return err
}
