// Package temporalconn connects certfleet to a Temporal cluster and prepares the
// cluster for it: the namespace and the custom search attributes.
package temporalconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/certfleet/certfleet/config"
	"github.com/certfleet/certfleet/metrics"
	"github.com/certfleet/certfleet/tracing"
)

// Dial connects to the Temporal frontend at address, in namespace, over TLS
// when tlsSettings say so, with the SDK's metrics in metrics.Registry and
// traces carried through workflows and activities (see tracing). The SDK asks the server for its capabilities while
// dialling, so a TLS or certificate mismatch fails here, at start, rather than
// at the first workflow.
func Dial(ctx context.Context, address, namespace string, tlsSettings config.TemporalTLS, logger *slog.Logger) (client.Client, error) {
	tlsConfig, err := ClientTLS(tlsSettings)
	if err != nil {
		return nil, err
	}
	sdkMetrics, err := metrics.Temporal()
	if err != nil {
		return nil, err
	}
	traces, err := tracing.Temporal()
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort:          address,
		Namespace:         namespace,
		Logger:            tlog.NewStructuredLogger(slog.New(retriesAsWarnings{logger.Handler()}).With("component", "temporal")),
		ConnectionOptions: client.ConnectionOptions{TLS: tlsConfig},
		MetricsHandler:    sdkMetrics,
		Interceptors:      []interceptor.ClientInterceptor{traces},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (tls: %t): %w", address, tlsConfig != nil, err)
	}
	return c, nil
}

// ClientTLS is the TLS configuration of the connection to Temporal, or nil
// when TLS is off: TLS 1.2 or later, the frontend verified against the CA
// bundle (the system's roots without one), and the client certificate
// presented when one is configured.
func ClientTLS(s config.TemporalTLS) (*tls.Config, error) {
	if !s.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName}
	if s.CA != "" {
		data, err := os.ReadFile(s.CA)
		if err != nil {
			return nil, fmt.Errorf("temporal-tls-ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("temporal-tls-ca: %s holds no PEM certificate", s.CA)
		}
	}
	if s.Client.Set() {
		cert, err := tls.LoadX509KeyPair(s.Client.Cert, s.Client.Key)
		if err != nil {
			return nil, fmt.Errorf("temporal-tls-cert %s and temporal-tls-key %s: %w", s.Client.Cert, s.Client.Key, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// EnsureNamespace registers namespace with the given retention if the cluster
// does not have it. A dev server creates "default" itself; a real cluster does not.
func EnsureNamespace(ctx context.Context, c client.Client, namespace string, retention time.Duration) (created bool, err error) {
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	var notFound *serviceerror.NamespaceNotFound
	switch {
	case err == nil:
		return false, nil
	case !errors.As(err, &notFound):
		return false, fmt.Errorf("describe namespace %s: %w", namespace, err)
	}
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        namespace,
		WorkflowExecutionRetentionPeriod: durationpb.New(retention),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return false, fmt.Errorf("register namespace %s: %w", namespace, err)
	}
	return err == nil, nil
}

// EnsureSearchAttributes registers whichever of keys the namespace lacks, and
// fails if one exists with another type. A namespace registered a moment ago may
// not be visible to the operator service yet, so it retries until ctx ends.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, keys []temporal.SearchAttributeKey) (added []string, err error) {
	for {
		added, err = ensureSearchAttributes(ctx, c, namespace, keys)
		var notFound *serviceerror.NamespaceNotFound
		if !errors.As(err, &notFound) {
			return added, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("namespace %s not ready for search attributes: %w", namespace, err)
		case <-time.After(time.Second):
		}
	}
}

func ensureSearchAttributes(ctx context.Context, c client.Client, namespace string, keys []temporal.SearchAttributeKey) ([]string, error) {
	existing, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes of %s: %w", namespace, err)
	}
	missing := map[string]enums.IndexedValueType{}
	var names []string
	for _, key := range keys {
		have, ok := existing.GetCustomAttributes()[key.GetName()]
		switch {
		case !ok:
			missing[key.GetName()] = key.GetValueType()
			names = append(names, key.GetName())
		case have != key.GetValueType():
			return nil, fmt.Errorf("search attribute %s exists as %s, certfleet needs %s", key.GetName(), have, key.GetValueType())
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	if err != nil {
		return nil, fmt.Errorf("add search attributes %v to %s: %w", names, namespace, err)
	}
	return names, nil
}

// IsUnavailable reports whether err says Temporal did not answer: it is
// down, overloaded or too slow. Trying again later may work, so callers
// report it as errkind.Unavailable rather than as an internal error.
func IsUnavailable(err error) bool {
	var down *serviceerror.Unavailable
	var busy *serviceerror.ResourceExhausted
	var slow *serviceerror.DeadlineExceeded
	return errors.As(err, &down) || errors.As(err, &busy) || errors.As(err, &slow) || errors.Is(err, context.DeadlineExceeded)
}

// retriesAsWarnings lowers the SDK's "Activity error." lines, one per failed
// attempt of an activity, from ERROR to WARN: a device or a CA being retried
// is expected, and Temporal retries it. A job item that fails for good is
// logged once, when its outcome is recorded (activities.FinishItem).
type retriesAsWarnings struct{ slog.Handler }

func (h retriesAsWarnings) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelError && r.Message == "Activity error." {
		r.Level = slog.LevelWarn
	}
	return h.Handler.Handle(ctx, r)
}

func (h retriesAsWarnings) WithAttrs(attrs []slog.Attr) slog.Handler {
	return retriesAsWarnings{h.Handler.WithAttrs(attrs)}
}

func (h retriesAsWarnings) WithGroup(name string) slog.Handler {
	return retriesAsWarnings{h.Handler.WithGroup(name)}
}
