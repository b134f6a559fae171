package temporalconn_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/certfleet/certfleet/config"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/temporalconn"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// frontend stands in for a Temporal frontend behind TLS: it answers the one
// call the SDK makes while dialling, GetSystemInfo. The dev server cannot
// serve TLS (`temporal server start-dev` has no TLS flags), and a real
// handshake with a real gRPC server is what this test is about.
type frontend struct {
	workflowservice.UnimplementedWorkflowServiceServer
}

func (frontend) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	return &workflowservice.GetSystemInfoResponse{ServerVersion: "tls-test"}, nil
}

// handshake is what the frontend saw of a client that completed TLS.
type handshake struct {
	serverName string // the client's SNI
	clientCN   string // the verified client certificate's CN; "" without one
}

// tlsFrontend serves frontend over TLS on an ephemeral loopback port with a
// certificate from serverCA, checking client certificates as clientAuth says
// against clientCA, and reports each completed handshake.
func tlsFrontend(t *testing.T, serverCA, clientCA *testpki.CA, clientAuth tls.ClientAuthType) (string, <-chan handshake) {
	t.Helper()
	cert, key := serverCA.Server(t)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(clientCA.Cert)
	seen := make(chan handshake, 16)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}},
		ClientAuth:   clientAuth,
		ClientCAs:    clientCAs,
		MinVersion:   tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			h := handshake{serverName: cs.ServerName}
			if len(cs.PeerCertificates) > 0 {
				h.clientCN = cs.PeerCertificates[0].Subject.CommonName
			}
			select {
			case seen <- h:
			default:
			}
			return nil
		},
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	server := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
	workflowservice.RegisterWorkflowServiceServer(server, frontend{})
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(server.Stop)
	return listener.Addr().String(), seen
}

// files writes a CA bundle and a client certificate and key for settings.
func files(t *testing.T, ca *testpki.CA, clientCA *testpki.CA, cn string) (caFile string, client config.TLSFiles) {
	t.Helper()
	dir := t.TempDir()
	caFile = testpki.Write(t, dir, "ca.pem", testpki.CertPEM(ca.Cert))
	cert, key := clientCA.Client(t, cn)
	client = config.TLSFiles{Cert: testpki.Write(t, dir, "client.pem", testpki.CertPEM(cert)), Key: testpki.Write(t, dir, "client.key", testpki.KeyPEM(t, key))}
	return caFile, client
}

func dial(t *testing.T, addr string, s config.TemporalTLS) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := temporalconn.Dial(ctx, addr, "default", s, quiet)
	if err == nil {
		c.Close()
	}
	return err
}

// TestDialWithMutualTLS: with a client certificate, a CA bundle and a server
// name, Dial completes a TLS handshake in which the frontend verified the
// client's certificate, and the client sent the configured name (SNI) and
// verified the frontend against the bundle. Without the client certificate
// a frontend that requires one refuses the connection.
func TestDialWithMutualTLS(t *testing.T) {
	serverCA, clientCA := testpki.NewCA(t, "temporal frontend CA"), testpki.NewCA(t, "temporal client CA")
	addr, seen := tlsFrontend(t, serverCA, clientCA, tls.RequireAndVerifyClientCert)
	caFile, client := files(t, serverCA, clientCA, "certfleet-worker")

	settings := config.TemporalTLS{Enabled: true, Client: client, CA: caFile, ServerName: "localhost"}
	require.NoError(t, dial(t, addr, settings))
	select {
	case h := <-seen:
		assert.Equal(t, handshake{serverName: "localhost", clientCN: "certfleet-worker"}, h)
	default:
		t.Fatal("Dial succeeded without a TLS handshake")
	}

	settings.Client = config.TLSFiles{}
	assert.Error(t, dial(t, addr, settings), "a frontend that requires a client certificate refuses a client without one")
}

// TestDialWithServerTLS: a CA bundle alone is TLS without a client
// certificate; a frontend whose certificate the bundle does not verify is
// refused; and a plaintext client gets nowhere with a TLS frontend.
func TestDialWithServerTLS(t *testing.T) {
	serverCA, otherCA := testpki.NewCA(t, "temporal frontend CA"), testpki.NewCA(t, "someone else's CA")
	addr, seen := tlsFrontend(t, serverCA, serverCA, tls.VerifyClientCertIfGiven)
	caFile, _ := files(t, serverCA, serverCA, "unused")

	require.NoError(t, dial(t, addr, config.TemporalTLS{Enabled: true, CA: caFile}))
	select {
	case h := <-seen:
		assert.Equal(t, "", h.clientCN, "no client certificate is presented")
	default:
		t.Fatal("Dial succeeded without a TLS handshake")
	}

	wrongCA, _ := files(t, otherCA, otherCA, "unused")
	err := dial(t, addr, config.TemporalTLS{Enabled: true, CA: wrongCA})
	assert.ErrorContains(t, err, "certificate signed by unknown authority", "the frontend is verified against the bundle")

	assert.Error(t, dial(t, addr, config.TemporalTLS{}), "plaintext against a TLS frontend")
}

func TestClientTLSErrorsNameTheFile(t *testing.T) {
	none, err := temporalconn.ClientTLS(config.TemporalTLS{})
	require.NoError(t, err)
	assert.Nil(t, none, "TLS off")

	dir := t.TempDir()
	notPEM := testpki.Write(t, dir, "ca.pem", []byte("not a certificate"))
	_, err = temporalconn.ClientTLS(config.TemporalTLS{Enabled: true, CA: notPEM})
	assert.ErrorContains(t, err, "temporal-tls-ca: "+notPEM+" holds no PEM certificate")
	_, err = temporalconn.ClientTLS(config.TemporalTLS{Enabled: true, CA: dir + "/missing.pem"})
	assert.ErrorContains(t, err, "temporal-tls-ca")
	_, err = temporalconn.ClientTLS(config.TemporalTLS{Enabled: true, Client: config.TLSFiles{Cert: notPEM, Key: notPEM}})
	assert.ErrorContains(t, err, "temporal-tls-cert "+notPEM)

	ca := testpki.NewCA(t, "ca")
	caFile, client := files(t, ca, ca, "certfleet")
	cfg, err := temporalconn.ClientTLS(config.TemporalTLS{Enabled: true, Client: client, CA: caFile, ServerName: "temporal.internal"})
	require.NoError(t, err)
	assert.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
	assert.Equal(t, "temporal.internal", cfg.ServerName)
	assert.Len(t, cfg.Certificates, 1)
	assert.NotNil(t, cfg.RootCAs)
}
