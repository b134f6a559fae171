// Package tracing sends certfleet's traces over OTLP/HTTP when an endpoint
// is configured, and costs nothing when it is not. An API, EST or SCEP
// request, the workflows it starts (through Temporal's tracing interceptor,
// which carries the trace in workflow and activity headers), their
// activities and the CA and device calls those make share one trace.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Setup exports traces to endpoint (an OTLP/HTTP base URL such as
// http://collector:4318, to which /v1/traces is added unless it has a path)
// as service certfleet, from process role, logging export failures to
// logger; the returned function flushes and stops the export. With no
// endpoint nothing is set up, and spans cost nothing.
func Setup(ctx context.Context, endpoint, role string, logger *slog.Logger) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("OTLP endpoint %q: %w", endpoint, err)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { logger.Warn("traces not exported", "error", err) }))
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter for %s: %w", endpoint, err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("certfleet"), attribute.String("certfleet.role", role))
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(provider)
	return provider.Shutdown, nil
}

// tracer is looked up at each use, so that it is Setup's provider's.
func tracer() trace.Tracer { return otel.Tracer("github.com/certfleet/certfleet") }

// Start starts a span of certfleet's own work, such as a call to a CA or a
// device; end it with End.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tracer().Start(ctx, name, trace.WithAttributes(attrs...))
}

// End ends span, marking it failed with err when there is one.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Temporal is the interceptor that carries traces into workflows and
// activities and makes their spans.
func Temporal() (interceptor.Interceptor, error) {
	return temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: otel.Tracer("temporal")})
}

// HTTP makes a server span of every request next answers, continuing the
// caller's trace (W3C traceparent), named by the ServeMux pattern that
// matched once next has run, or by Rename.
func HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer().Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		r = r.WithContext(ctx)
		next.ServeHTTP(w, r)
		if r.Pattern != "" {
			span.SetName(r.Pattern)
		}
	})
}

// Rename names the request's server span by its route, for routers other
// than ServeMux.
func Rename(ctx context.Context, method, route string) {
	trace.SpanFromContext(ctx).SetName(method + " " + route)
}
