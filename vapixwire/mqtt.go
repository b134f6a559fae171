package vapixwire

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The MQTT client API (VAPIX → Network video → MQTT client API,
// https://developer.axis.com/vapix/network-video/mqtt-client-api): JSON
// requests {"apiVersion", "context", "method", "params"} posted to
// PathMQTTClient, answered with {"apiVersion", "context", "method", "data"}
// or {…, "error": {"code", "message"}}. The client certificate and the CA
// certificate that validates the broker are named by certificate ID (the
// alias of the Certificate Management API) in the configuration's "ssl"
// object. docs/vapix.md says where each field name comes from.

// PathMQTTClient is the MQTT client CGI (POST).
const PathMQTTClient = "/axis-cgi/mqtt/client.cgi"

// MQTTAPIVersion is the version of the MQTT client API certfleet speaks.
const MQTTAPIVersion = "1.0"

// Methods of the MQTT client API.
const (
	MQTTConfigureClient      = "configureClient"
	MQTTGetClientStatus      = "getClientStatus"
	MQTTActivateClient       = "activateClient"
	MQTTDeactivateClient     = "deactivateClient"
	MQTTGetSupportedVersions = "getSupportedVersions"
)

// General error codes of the MQTT client API.
const (
	MQTTCodeInternal         = 1100 // internal error
	MQTTCodeVersion          = 2100 // API version not supported
	MQTTCodeInvalidJSON      = 2101 // invalid JSON
	MQTTCodeMethod           = 2102 // method not supported
	MQTTCodeMissingParameter = 2103 // required parameter missing
	MQTTCodeInvalidParameter = 2104 // invalid parameter value
)

// Protocols of MQTTServer: MQTT over TCP, over TLS, over WebSocket, over
// secure WebSocket. A client certificate is used with ssl and wss only.
const (
	MQTTProtocolTCP = "tcp"
	MQTTProtocolSSL = "ssl"
	MQTTProtocolWS  = "ws"
	MQTTProtocolWSS = "wss"
)

// MQTTRequest is a request to the MQTT client CGI.
type MQTTRequest struct {
	APIVersion string          `json:"apiVersion"`
	Context    string          `json:"context,omitempty"`
	Method     string          `json:"method"`
	Params     json.RawMessage `json:"params,omitempty"`
}

// MQTTResponse is an answer of the MQTT client CGI: data on success, error
// on failure.
type MQTTResponse struct {
	APIVersion string          `json:"apiVersion"`
	Context    string          `json:"context,omitempty"`
	Method     string          `json:"method,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Error      *Error          `json:"error,omitempty"`
}

// DecodeMQTTResponse reads an answer of the MQTT client CGI.
func DecodeMQTTResponse(body []byte) (*MQTTResponse, error) {
	var r MQTTResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("malformed MQTT client API answer: %w", err)
	}
	if r.APIVersion == "" && r.Error == nil {
		return nil, errors.New("MQTT client API answer without apiVersion")
	}
	return &r, nil
}

// MQTTClientStatus is the data of getClientStatus: the configuration (the
// password is never returned) and the state of the client.
type MQTTClientStatus struct {
	Status MQTTStatus       `json:"status"`
	Config MQTTClientConfig `json:"config"`
}

// MQTTStatus is the state of the MQTT client.
type MQTTStatus struct {
	State            string `json:"state"`            // active, inactive
	ConnectionStatus string `json:"connectionStatus"` // connected, disconnected (some firmware: "not connected")
}

// MQTTClientConfig is the params of configureClient and the config of
// getClientStatus, with every documented field. The driver does not send
// this type: it resends the configuration it read as raw JSON, changing only
// the "ssl" object and the password fields, so that fields of newer
// firmware survive. The simulator decodes configureClient strictly into it.
type MQTTClientConfig struct {
	Server               MQTTServer   `json:"server"`
	Username             string       `json:"username,omitempty"`
	Password             *string      `json:"password,omitempty"`
	KeepExistingPassword *bool        `json:"keepExistingPassword,omitempty"`
	ClientID             string       `json:"clientId,omitempty"`
	KeepAliveInterval    *int         `json:"keepAliveInterval,omitempty"`
	ConnectTimeout       *int         `json:"connectTimeout,omitempty"`
	CleanSession         *bool        `json:"cleanSession,omitempty"`
	AutoReconnect        *bool        `json:"autoReconnect,omitempty"`
	ActivateOnReboot     *bool        `json:"activateOnReboot,omitempty"`
	DeviceTopicPrefix    string       `json:"deviceTopicPrefix,omitempty"`
	LastWillTestament    *MQTTMessage `json:"lastWillTestament,omitempty"`
	ConnectMessage       *MQTTMessage `json:"connectMessage,omitempty"`
	DisconnectMessage    *MQTTMessage `json:"disconnectMessage,omitempty"`
	SSL                  *MQTTSSL     `json:"ssl,omitempty"`
}

// MQTTServer is the broker.
type MQTTServer struct {
	Protocol     string `json:"protocol,omitempty"` // tcp (default), ssl, ws, wss
	Host         string `json:"host"`
	Port         int    `json:"port,omitempty"`
	AlpnProtocol string `json:"alpnProtocol,omitempty"`
	BasePath     string `json:"basepath,omitempty"`
}

// MQTTMessage is a last will, connect or disconnect message.
type MQTTMessage struct {
	UseDefault bool   `json:"useDefault"`
	Topic      string `json:"topic,omitempty"`
	Message    string `json:"message,omitempty"`
	Retain     *bool  `json:"retain,omitempty"`
	QoS        *int   `json:"qos,omitempty"`
}

// MQTTSSL is the TLS side of the client: whether the broker's certificate
// is validated, with which CA certificate, and which certificate (with its
// key) the client presents. Both are certificate IDs on the device.
type MQTTSSL struct {
	ValidateServerCert bool   `json:"validateServerCert"`
	CACertID           string `json:"CACertID,omitempty"`
	ClientCertID       string `json:"clientCertID,omitempty"`
}

// MQTT JSON field names the driver changes in a configuration it resends.
const (
	MQTTFieldSSL                  = "ssl"
	MQTTFieldPassword             = "password"
	MQTTFieldKeepExistingPassword = "keepExistingPassword"
)
