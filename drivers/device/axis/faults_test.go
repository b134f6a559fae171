package axis_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/credentials/secret"
	"github.com/certfleet/certfleet/devicesim"
	"github.com/certfleet/certfleet/drivers/device"
	"github.com/certfleet/certfleet/drivers/device/axis"
	"github.com/certfleet/certfleet/drivers/device/tlspin"
	"github.com/certfleet/certfleet/internal/testenv"
	"github.com/certfleet/certfleet/internal/testpki"
	"github.com/certfleet/certfleet/pki"
)

func requirePermanent(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	assert.True(t, device.IsPermanent(err), "want permanent: %v", err)
}

func requireTransient(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	assert.False(t, device.IsPermanent(err), "want transient: %v", err)
}

// TestInstallWithoutDatabase runs a renewal against a throwaway CA.
func TestInstallWithoutDatabase(t *testing.T) {
	ctx := context.Background()
	env := newSim(t)
	ca := testpki.NewCA(t, "test CA")
	driver := axis.New(&testenv.MemPins{}, 10*time.Second)
	dev := env.device("cam-00001")

	der, err := driver.GenerateCSR(ctx, dev, csrRequest(dev.ID, pki.CertTypeTLS, pki.KeySpec{Algorithm: "ecdsa", Size: 384}))
	require.NoError(t, err)
	chain := ca.Chain(t, der)
	require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, chain))
	require.NoError(t, driver.Install(ctx, dev, pki.CertTypeTLS, chain), "idempotent")
	current, err := driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err)
	assert.True(t, chain[0].Equal(current))

	// A certificate for a key the camera does not hold.
	other := testpki.NewCA(t, "test CA")
	requirePermanent(t, driver.Install(ctx, dev, pki.CertTypeTLS, []*x509.Certificate{other.Cert}), "no key on the camera")
}

func TestCredentialProblemsArePermanent(t *testing.T) {
	ctx := context.Background()
	env := newSim(t)
	driver := axis.New(&testenv.MemPins{}, 10*time.Second)
	req := csrRequest("cam-00002", pki.CertTypeTLS, p256)

	wrong := env.device("cam-00002")
	wrong.Credential.Value = "not-the-password-4711"
	_, err := driver.GenerateCSR(ctx, wrong, req)
	requirePermanent(t, err)
	assert.Contains(t, err.Error(), "refused the credential")
	assert.NotContains(t, err.Error(), "not-the-password-4711", "the password never appears in an error")

	for name, cred := range map[string]secret.Secret{
		"none":        {},
		"bearer":      {Kind: secret.Bearer, Value: "token"},
		"no username": {Kind: secret.Password, Value: "x"},
	} {
		dev := env.device("cam-00002")
		dev.Credential = cred
		_, err := driver.Current(ctx, dev, pki.CertTypeTLS)
		requirePermanent(t, err, name)
	}

	refused := env.device("cam-00003")
	env.setFaults(t, refused.ID, devicesim.Faults{AuthRefused: true})
	_, err = driver.GenerateCSR(ctx, refused, csrRequest(refused.ID, pki.CertTypeTLS, p256))
	requirePermanent(t, err)
	_, err = driver.Current(ctx, refused, pki.CertTypeTLS)
	requirePermanent(t, err)
}

func TestCameraFaults(t *testing.T) {
	ctx := context.Background()
	env := newSim(t)
	ca := testpki.NewCA(t, "test CA")
	driver := axis.New(&testenv.MemPins{}, 5*time.Second)

	stuck := env.device("cam-00010")
	env.setFaults(t, stuck.ID, devicesim.Faults{KeyGenStuck: true})
	_, err := driver.GenerateCSR(ctx, stuck, csrRequest(stuck.ID, pki.CertTypeTLS, p256))
	requireTransient(t, err, "key generation busy")
	env.setFaults(t, stuck.ID, devicesim.Faults{})
	_, err = driver.GenerateCSR(ctx, stuck, csrRequest(stuck.ID, pki.CertTypeTLS, p256))
	require.NoError(t, err, "the camera recovered")

	csrFails := env.device("cam-00011")
	env.setFaults(t, csrFails.ID, devicesim.Faults{CSRFailure: true})
	_, err = driver.GenerateCSR(ctx, csrFails, csrRequest(csrFails.ID, pki.CertTypeTLS, p256))
	requirePermanent(t, err)

	installFails := env.device("cam-00012")
	der, err := driver.GenerateCSR(ctx, installFails, csrRequest(installFails.ID, pki.CertTypeTLS, p256))
	require.NoError(t, err)
	env.setFaults(t, installFails.ID, devicesim.Faults{InstallFailure: true})
	requirePermanent(t, driver.Install(ctx, installFails, pki.CertTypeTLS, ca.Chain(t, der)))
	st := env.state(t, installFails.ID)
	assert.Equal(t, "default", st.HTTPS, "nothing bound after a refused install")

	flapping := env.device("cam-00013")
	env.setFaults(t, flapping.ID, devicesim.Faults{FlapFailures: 1})
	_, err = driver.Current(ctx, flapping, pki.CertTypeTLS)
	requireTransient(t, err, "503 busy")
	_, err = driver.Current(ctx, flapping, pki.CertTypeTLS)
	require.NoError(t, err)

	unreachable := env.device("cam-00014")
	env.setFaults(t, unreachable.ID, devicesim.Faults{Unreachable: true})
	_, err = driver.Current(ctx, unreachable, pki.CertTypeTLS)
	requireTransient(t, err, "dropped connection")

	unknown := env.device("cam-99999")
	_, err = driver.Current(ctx, unknown, pki.CertTypeTLS)
	requirePermanent(t, err, "404")
}

func TestRequestsTheCameraCannotServe(t *testing.T) {
	ctx := context.Background()
	env := newSim(t)
	driver := axis.New(&testenv.MemPins{}, 5*time.Second)
	dev := env.device("cam-00020")

	for name, req := range map[string]pki.CSRRequest{
		"ed25519":   csrRequest(dev.ID, pki.CertTypeTLS, pki.KeySpec{Algorithm: "ed25519", Size: 256}),
		"P-521":     csrRequest(dev.ID, pki.CertTypeTLS, pki.KeySpec{Algorithm: "ecdsa", Size: 521}),
		"cert type": csrRequest(dev.ID, "mqtt", p256),
		"email SAN": {CertType: pki.CertTypeTLS, Key: p256, Subject: pki.CSRSubject{CommonName: "x"}, SANs: pki.CSRSANs{Email: []string{"a@example.net"}}},
		"subject":   {CertType: pki.CertTypeTLS, Key: p256},
	} {
		_, err := driver.GenerateCSR(ctx, dev, req)
		requirePermanent(t, err, name)
	}
	_, err := driver.Current(ctx, dev, "mqtt")
	requirePermanent(t, err)
	requirePermanent(t, driver.Install(ctx, dev, pki.CertTypeTLS, nil))
}

func TestChangedPinIsPermanent(t *testing.T) {
	ctx := context.Background()
	env := newSim(t)
	driver := axis.New(&testenv.MemPins{}, 5*time.Second)
	dev := env.device("cam-00030")
	sum := sha256.Sum256([]byte("another certificate"))
	dev.TLSPin = sum[:]
	_, err := driver.Current(ctx, dev, pki.CertTypeTLS)
	requirePermanent(t, err)
	assert.True(t, errors.Is(err, tlspin.ErrMismatch), "%v", err)

	dev.TLSPin = env.pinOf()
	_, err = driver.Current(ctx, dev, pki.CertTypeTLS)
	require.NoError(t, err, "the right pin")
}

func TestTimeoutIsTransient(t *testing.T) {
	env := newSim(t)
	driver := axis.New(&testenv.MemPins{}, 200*time.Millisecond)
	dev := env.device("cam-00040")
	env.setFaults(t, dev.ID, devicesim.Faults{SlowMS: &[2]int{800, 800}})
	_, err := driver.Current(context.Background(), dev, pki.CertTypeTLS)
	requireTransient(t, err)
}
