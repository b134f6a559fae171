package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// serveHTTP serves handler on addr (over TLS when tlsConfig is given) until ctx
// ends, then drains requests for up to drain.
func serveHTTP(ctx context.Context, what, addr string, handler http.Handler, tlsConfig *tls.Config, drain time.Duration, logger *slog.Logger) error {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for the %s on %s: %w", what, addr, err)
	}
	server := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if tlsConfig != nil {
		listener = tls.NewListener(listener, tlsConfig)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- server.Serve(listener) }()
	logger.Info(what+" listening", "addr", listener.Addr().String(), "tls", tlsConfig != nil)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve the %s: %w", what, err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down the %s: %w", what, err)
	}
	return nil
}

// serverTLS is plain server-side TLS 1.2 and later with one certificate.
func serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}
