package axis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/certfleet/certfleet/vapixwire"
)

// mqttClient is a camera's MQTT client: its configuration (without the
// password, kept apart as the camera never returns it) and its state.
type mqttClient struct {
	config   vapixwire.MQTTClientConfig
	password string
	active   bool
}

// factoryMQTT is the MQTT client a simulated camera starts with: a broker
// over TLS, with a username and password, not validating the broker and
// with no client certificate.
func factoryMQTT(id string) mqttClient {
	yes, interval := true, 60
	return mqttClient{
		config: vapixwire.MQTTClientConfig{
			Server:   vapixwire.MQTTServer{Protocol: vapixwire.MQTTProtocolSSL, Host: "mqtt-broker.example.net", Port: 8883},
			Username: id, ClientID: id,
			KeepAliveInterval: &interval, ConnectTimeout: &interval,
			CleanSession: &yes, AutoReconnect: &yes, ActivateOnReboot: &yes,
			DeviceTopicPrefix: "axis/" + id,
			SSL:               &vapixwire.MQTTSSL{},
		},
		password: "broker-password-" + id,
		active:   true,
	}
}

func (m mqttClient) state() MQTTState {
	st := MQTTState{
		Protocol: m.config.Server.Protocol, Host: m.config.Server.Host, Port: m.config.Server.Port,
		ClientID: m.config.ClientID, Username: m.config.Username, Password: m.password, Active: m.active,
	}
	if ssl := m.config.SSL; ssl != nil {
		st.ClientCert, st.CACert, st.ValidateServerCert = ssl.ClientCertID, ssl.CACertID, ssl.ValidateServerCert
	}
	return st
}

// mqttRefusal is an error answer of the MQTT client API.
type mqttRefusal struct {
	status, code int
	msg          string
}

func mqttRefuse(status, code int, format string, args ...any) *mqttRefusal {
	return &mqttRefusal{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// strictJSON decodes data into v, refusing unknown fields and trailing data.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON object")
	}
	return nil
}

// mqtt serves /axis-cgi/mqtt/client.cgi. Requests are strict: unknown
// fields, unknown methods, unknown certificate IDs and bad values get a 400
// with the API's error object; nothing here answers 5xx.
func (h *handler) mqtt(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	faults, err := h.fleet.FaultsOf(id)
	if err != nil {
		writeError(w, http.StatusNotFound, vapixwire.CodeNotFound, "no simulated camera %q", id)
		return
	}
	var req vapixwire.MQTTRequest
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(data) > maxBody {
		writeMQTT(w, req, nil, mqttRefuse(http.StatusBadRequest, vapixwire.MQTTCodeInvalidJSON, "unreadable or oversized request"))
		return
	}
	if err := strictJSON(data, &req); err != nil {
		writeMQTT(w, req, nil, mqttRefuse(http.StatusBadRequest, vapixwire.MQTTCodeInvalidJSON, "invalid JSON: %v", err))
		return
	}
	if major, _, _ := strings.Cut(req.APIVersion, "."); major != "1" {
		writeMQTT(w, req, nil, mqttRefuse(http.StatusBadRequest, vapixwire.MQTTCodeVersion, "apiVersion %q is not supported", req.APIVersion))
		return
	}
	c, err := h.sim.camera(id)
	if err != nil {
		writeMQTT(w, req, nil, mqttRefuse(http.StatusServiceUnavailable, vapixwire.MQTTCodeInternal, "camera not ready"))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	answer, ref := c.mqttCall(req, faults.InstallFailure)
	writeMQTT(w, req, answer, ref)
}

func (c *camera) mqttCall(req vapixwire.MQTTRequest, installFailure bool) (any, *mqttRefusal) {
	noParams := func() *mqttRefusal {
		if len(req.Params) != 0 && string(req.Params) != "{}" && string(req.Params) != "null" {
			return mqttRefuse(http.StatusBadRequest, vapixwire.MQTTCodeInvalidParameter, "%s takes no params", req.Method)
		}
		return nil
	}
	switch req.Method {
	case vapixwire.MQTTGetClientStatus:
		if ref := noParams(); ref != nil {
			return nil, ref
		}
		status := vapixwire.MQTTStatus{State: "inactive", ConnectionStatus: "disconnected"}
		if c.mqtt.active {
			status.State = "active"
		}
		return vapixwire.MQTTClientStatus{Status: status, Config: c.mqtt.config}, nil
	case vapixwire.MQTTActivateClient, vapixwire.MQTTDeactivateClient:
		if ref := noParams(); ref != nil {
			return nil, ref
		}
		c.mqtt.active = req.Method == vapixwire.MQTTActivateClient
		return struct{}{}, nil
	case vapixwire.MQTTGetSupportedVersions:
		if ref := noParams(); ref != nil {
			return nil, ref
		}
		return map[string][]string{"apiVersions": {vapixwire.MQTTAPIVersion}}, nil
	case vapixwire.MQTTConfigureClient:
		return c.configureMQTT(req.Params, installFailure)
	}
	return nil, mqttRefuse(http.StatusBadRequest, vapixwire.MQTTCodeMethod, "method %q is not supported", req.Method)
}

func (c *camera) configureMQTT(params json.RawMessage, installFailure bool) (any, *mqttRefusal) {
	if len(params) == 0 || string(params) == "null" {
		return nil, mqttRefuse(http.StatusBadRequest, vapixwire.MQTTCodeMissingParameter, "configureClient needs params")
	}
	var cfg vapixwire.MQTTClientConfig
	if err := strictJSON(params, &cfg); err != nil {
		return nil, mqttRefuse(http.StatusBadRequest, vapixwire.MQTTCodeInvalidJSON, "params: %v", err)
	}
	if cfg.Server.Host == "" {
		return nil, mqttRefuse(http.StatusBadRequest, vapixwire.MQTTCodeMissingParameter, "server.host is required")
	}
	switch cfg.Server.Protocol {
	case "":
		cfg.Server.Protocol = vapixwire.MQTTProtocolTCP
	case vapixwire.MQTTProtocolTCP, vapixwire.MQTTProtocolSSL, vapixwire.MQTTProtocolWS, vapixwire.MQTTProtocolWSS:
	default:
		return nil, mqttRefuse(http.StatusBadRequest, vapixwire.MQTTCodeInvalidParameter, "server.protocol %q: want tcp, ssl, ws or wss", cfg.Server.Protocol)
	}
	if cfg.Server.Port < 0 || cfg.Server.Port > 65535 {
		return nil, mqttRefuse(http.StatusBadRequest, vapixwire.MQTTCodeInvalidParameter, "server.port %d", cfg.Server.Port)
	}
	if ssl := cfg.SSL; ssl != nil {
		if _, ok := c.certs[ssl.ClientCertID]; ssl.ClientCertID != "" && !ok {
			return nil, mqttRefuse(http.StatusBadRequest, vapixwire.MQTTCodeInvalidParameter, "ssl.clientCertID: no certificate %q", ssl.ClientCertID)
		}
		if _, ok := c.cas[ssl.CACertID]; ssl.CACertID != "" && !ok {
			return nil, mqttRefuse(http.StatusBadRequest, vapixwire.MQTTCodeInvalidParameter, "ssl.CACertID: no CA certificate %q", ssl.CACertID)
		}
	}
	keep := cfg.KeepExistingPassword != nil && *cfg.KeepExistingPassword
	if keep && cfg.Password != nil {
		return nil, mqttRefuse(http.StatusBadRequest, vapixwire.MQTTCodeInvalidParameter, "password and keepExistingPassword: give one")
	}
	if installFailure {
		return nil, mqttRefuse(http.StatusUnprocessableEntity, vapixwire.MQTTCodeInternal, "simulated install failure")
	}
	password := c.mqtt.password
	if !keep {
		password = ""
		if cfg.Password != nil {
			password = *cfg.Password
		}
	}
	cfg.Password, cfg.KeepExistingPassword = nil, nil
	if cfg.SSL == nil {
		cfg.SSL = &vapixwire.MQTTSSL{}
	}
	c.mqtt.config, c.mqtt.password = cfg, password
	c.calls["bind_mqtt"]++
	return struct{}{}, nil
}

func writeMQTT(w http.ResponseWriter, req vapixwire.MQTTRequest, answer any, ref *mqttRefusal) {
	resp := vapixwire.MQTTResponse{APIVersion: vapixwire.MQTTAPIVersion, Context: req.Context, Method: req.Method}
	status := http.StatusOK
	if ref != nil {
		status = ref.status
		resp.Error = &vapixwire.Error{Code: ref.code, Message: ref.msg}
	} else if data, err := json.Marshal(answer); err == nil {
		resp.Data = data
	}
	writeJSON(w, status, resp)
}

// SetMQTTBroker points camera id's MQTT client at server, as an operator
// would through the camera's web interface; the rest of its configuration
// stays.
func (s *Simulator) SetMQTTBroker(id string, server vapixwire.MQTTServer) error {
	c, err := s.camera(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mqtt.config.Server = server
	return nil
}
