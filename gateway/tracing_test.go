package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/aitext/aitext/clients/go/aitextv1"
)

// traceparentBackend is a backend that keeps the traceparent of every TextService call.
func traceparentBackend(t *testing.T) (addr string, seen func() []string) {
	t.Helper()
	var mu sync.Mutex
	var parents []string
	keep := func(ctx context.Context, method string) {
		if md, ok := metadata.FromIncomingContext(ctx); ok && strings.HasPrefix(method, "/aitext.v1.TextService/") {
			mu.Lock()
			parents = append(parents, strings.Join(md.Get("traceparent"), ","))
			mu.Unlock()
		}
	}
	server := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			keep(ctx, info.FullMethod)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			keep(ss.Context(), info.FullMethod)
			return h(srv, ss)
		}),
	)
	aitextv1.RegisterTextServiceServer(server, &textServer{name: "traced", gate: make(chan struct{})})
	healthpb.RegisterHealthServer(server, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = server.Serve(ln) }()
	t.Cleanup(server.Stop)
	return ln.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), parents...)
	}
}

// calls sends one Process over gRPC, one over REST and one REST batch (its own handler).
func calls(t *testing.T, url string) {
	t.Helper()
	if _, err := grpcClient(t, url).Process(ctxTimeout(t), &aitextv1.ProcessRequest{Text: "grpc"}); err != nil {
		t.Fatal(err)
	}
	for path, body := range map[string]string{
		"/v1/process":       `{"text":"rest"}`,
		"/v1/process:batch": `{"requests":[{"text":"batch"}]}`,
	} {
		resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, resp.Status)
		}
	}
}

func TestTracingSendsTheGatewaySpanAsTheBackendsParent(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	previous, previousPropagator := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(previous)
		otel.SetTextMapPropagator(previousPropagator)
	})

	addr, seen := traceparentBackend(t)
	url, _ := startGateway(t, config{Backends: []string{addr}, Tracing: true})
	calls(t, url)

	parents := seen()
	if len(parents) != 3 {
		t.Fatalf("backend saw %d calls, want 3: %q", len(parents), parents)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(recorder.Ended()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // a server span ends just after its response is written
	}
	spans := map[string]string{} // "trace-span" of each gateway span -> its name
	for _, s := range recorder.Ended() {
		spans[s.SpanContext().TraceID().String()+"-"+s.SpanContext().SpanID().String()] = s.Name()
	}
	for _, parent := range parents {
		// 00-<trace id>-<parent span id>-<flags>
		fields := strings.Split(parent, "-")
		if len(fields) != 4 {
			t.Fatalf("traceparent %q is not W3C trace context", parent)
		}
		if _, ok := spans[fields[1]+"-"+fields[2]]; !ok {
			t.Errorf("traceparent %q names no span of the gateway: %v", parent, spans)
		}
	}
}

func TestNoTraceparentIsAddedWithTracingOff(t *testing.T) {
	addr, seen := traceparentBackend(t)
	url, _ := startGateway(t, config{Backends: []string{addr}})
	calls(t, url)
	for _, parent := range seen() {
		if parent != "" {
			t.Errorf("tracing off, but the backend got traceparent %q", parent)
		}
	}
}

func TestTracingIsRequestedByTheStandardVariables(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_SDK_DISABLED": "true"}, false},
	} {
		for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"} {
			t.Setenv(name, tc.env[name])
		}
		if got := tracingRequested(); got != tc.want {
			t.Errorf("%v: tracingRequested() = %v, want %v", tc.env, got, tc.want)
		}
	}
}
