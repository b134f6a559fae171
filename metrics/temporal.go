package metrics

import (
	"fmt"
	"sync"

	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// temporalBuckets suit the SDK's latencies, which it reports in seconds:
// from a local activity's millisecond to a long poll's minute.
var temporalBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

var temporalHandler = sync.OnceValues(func() (client.MetricsHandler, error) {
	exporter, err := otelprom.New(otelprom.WithRegisterer(Registry), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("export the Temporal SDK's metrics to Prometheus: %w", err)
	}
	histograms := sdkmetric.NewView(sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: temporalBuckets}})
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithView(histograms))
	return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                provider.Meter("temporal-sdk-go"),
		UseMonotonicCounters: true,
		OnError:              func(error) {}, // a metric the SDK cannot record is no reason to stop a worker
	}), nil
})

// Temporal is the Temporal SDK's metrics handler, for client.Options: the
// worker's task slots, poll and schedule-to-start latencies, activity and
// workflow task failures, labelled with namespace and task queue, in
// Registry under the SDK's names (temporal_…).
func Temporal() (client.MetricsHandler, error) { return temporalHandler() }
