package main

import (
	"context"
	"net/http"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// tracingRequested says whether the standard OTEL_* variables ask for traces: an
// OTLP endpoint is set, and neither OTEL_SDK_DISABLED nor OTEL_TRACES_EXPORTER=none
// turns them off. Off by default: an unset environment adds no handler and no cost.
func tracingRequested() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	if exporter := os.Getenv("OTEL_TRACES_EXPORTER"); exporter != "" && exporter != "otlp" {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// startTracing installs a batching OTLP/HTTP exporter (configured by the OTEL_*
// variables: endpoint, headers, OTEL_BSP_* schedule) and the W3C trace-context
// propagator. The returned function flushes what is pending.
func startTracing(ctx context.Context) (func(context.Context) error, error) {
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, err
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the default name.
	res, err := resource.Merge(
		resource.NewSchemaless(semconv.ServiceName("aitext-gateway")),
		resource.Environment(),
	)
	if err != nil {
		return nil, err
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return provider.Shutdown, nil
}

// traced wraps the gateway's handler in one server span per request, named by its
// path (a method or a REST route: the API's paths carry no user data), continuing
// the caller's traceparent when it sends one.
func traced(next http.Handler) http.Handler {
	return otelhttp.NewHandler(next, "gateway",
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))
}

// propagating sends the current span's traceparent to the backend, so that the
// server's span is a child of the gateway's.
type propagating struct{ next http.RoundTripper }

func (t propagating) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper must not change the caller's request: the headers go on a copy.
	out := req.Clone(req.Context())
	otel.GetTextMapPropagator().Inject(req.Context(), propagation.HeaderCarrier(out.Header))
	return t.next.RoundTrip(out)
}
