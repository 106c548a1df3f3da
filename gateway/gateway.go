package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httputil"
	"net/http/pprof"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"github.com/rs/cors"

	"github.com/aitext/aitext/clients/go/aitextv1"
)

// config is what the command line and the AITEXT_GATEWAY_* variables set.
type config struct {
	Backends        []string
	AllowedOrigins  []string
	HealthInterval  time.Duration
	ConnsPerBackend int
	MaxMessageBytes int  // 0: 64 MiB
	Tracing         bool // a span per request, its traceparent sent on to the backend (tracing.go)
}

// gateway serves gRPC, gRPC-Web, Connect and REST/JSON (from the google.api.http
// annotations) and forwards everything as gRPC to the backends.
type gateway struct {
	pool    *pool
	handler http.Handler
	debug   http.Handler // /debug/*, served only on --debug-listen
}

func newGateway(cfg config) (*gateway, error) {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 64 << 20
	}
	p, err := newPool(cfg.Backends, cfg.ConnsPerBackend, cfg.HealthInterval)
	if err != nil {
		return nil, err
	}
	var transport http.RoundTripper = p
	if cfg.Tracing {
		transport = propagating{p}
	}
	reverseProxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetXForwarded()
			r.Out.URL.Scheme = "http" // the host is chosen per attempt by the pool
		},
		Transport:     transport,
		FlushInterval: -1, // stream every message as it arrives
		ErrorHandler:  writeProxyError,
		BufferPool:    copyBuffers{},
	}
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reverseProxy.ServeHTTP(&flushAfterWrite{ResponseWriter: w, unary: unaryMethods[r.URL.Path]}, r)
	})
	transcoder, err := vanguard.NewTranscoder(
		[]*vanguard.Service{vanguard.NewService(
			aitextv1.TextService_ServiceDesc.ServiceName, oneMessage(proxy, cfg.MaxMessageBytes),
			vanguard.WithTargetProtocols(vanguard.ProtocolGRPC),
			vanguard.WithTargetCodecs(vanguard.CodecProto),
			vanguard.WithNoTargetCompression(),
			vanguard.WithMaxMessageBufferBytes(uint32(min(cfg.MaxMessageBytes, math.MaxUint32))),
		)},
		vanguard.WithCodec(newJSONCodec),
		vanguard.WithCompression(vanguard.CompressionGzip, newGzipCompressor, newGzipDecompressor),
		// Health, reflection and any other gRPC service pass through untouched.
		vanguard.WithUnknownHandler(grpcOnly(proxy)),
	)
	if err != nil {
		p.close()
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !p.anyHealthy() {
			http.Error(w, "no healthy backend", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	withCORS := corsHandler(cfg.AllowedOrigins)
	// Inside CORS, so that a browser can read the refusal of a query parameter.
	mux.Handle("POST "+restBatchPath,
		withCORS(refuseQueryParameters(restJSONByDefault(restBatchHandler(transport, int64(cfg.MaxMessageBytes))))))
	mux.Handle("POST "+restStreamPath,
		withCORS(refuseQueryParameters(restJSONByDefault(restProcessStreamHandler(transport, int64(cfg.MaxMessageBytes))))))
	mux.Handle("/", withCORS(refuseQueryParameters(restJSONByDefault(transcoder))))

	// /debug tells anyone who can reach it the backends' addresses and load. The
	// gateway knows no API keys (the servers check them), so it is served on its own
	// listen address, off unless --debug-listen is given.
	debug := http.NewServeMux()
	debug.HandleFunc("GET /debug/backends", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p.status())
	})
	// Go's profiler, for finding what the gateway spends its CPU on (docs/benchmarks.md).
	debug.HandleFunc("GET /debug/pprof/", pprof.Index)
	debug.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	debug.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	handler := cleanHeaders(mux)
	if cfg.Tracing {
		handler = traced(handler)
	}
	p.start()
	return &gateway{pool: p, handler: handler, debug: debug}, nil
}

func (g *gateway) close() { g.pool.close() }

// corsHandler lets browsers on the given origins call every protocol; with no
// origins it adds nothing, so browsers refuse cross-origin calls.
func corsHandler(origins []string) func(http.Handler) http.Handler {
	if len(origins) == 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{
			"Content-Type", "Content-Encoding", "Accept-Encoding", "Authorization", "X-Api-Key",
			"Connect-Protocol-Version", "Connect-Timeout-Ms", "Connect-Content-Encoding", "Connect-Accept-Encoding",
			"Grpc-Timeout", "Grpc-Accept-Encoding", "Grpc-Encoding", "X-Grpc-Web", "X-User-Agent",
		},
		ExposedHeaders: []string{
			"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin", "Grpc-Encoding",
			"Connect-Content-Encoding", "Content-Encoding",
		},
		MaxAge: 7200,
	}).Handler
}

// restJSONByDefault reads a REST body sent without a JSON content type (curl -d
// sends application/x-www-form-urlencoded) as JSON, as Envoy's transcoder does.
func restJSONByDefault(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			switch ct := r.Header.Get("Content-Type"); {
			case ct == "", strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
				r.Header.Set("Content-Type", "application/json")
			}
		}
		next.ServeHTTP(w, r)
	})
}

func grpcOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") &&
			!strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc-web") {
			next.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}

// writeProxyError answers a request that reached no backend as a trailers-only
// gRPC response, which vanguard turns into the client's protocol: UNAVAILABLE
// (HTTP 503) when no backend could take it, or the transcoder's own code (such as
// RESOURCE_EXHAUSTED for a message over the limit).
func writeProxyError(w http.ResponseWriter, r *http.Request, err error) {
	code := connect.CodeUnavailable
	var cerr *connect.Error
	switch {
	case errors.As(err, &cerr):
		code = cerr.Code()
	case r.Context().Err() != nil:
		code = connect.CodeCanceled
	default:
		slog.Warn("proxy error", "path", r.URL.Path, "err", err)
	}
	if cerr == nil {
		cerr = connect.NewError(code, err)
	}
	writeGRPCError(w, cerr)
}

// writeGRPCError answers with a trailers-only gRPC response; vanguard turns it
// into the client's protocol (and ignores it if it has already answered).
func writeGRPCError(w http.ResponseWriter, err *connect.Error) {
	w.Header().Set("Content-Type", "application/grpc")
	w.Header().Set("Grpc-Status", strconv.Itoa(int(err.Code())))
	w.Header().Set("Grpc-Message", url.PathEscape("gateway: "+err.Message()))
	w.WriteHeader(http.StatusOK)
}

// flushAfterWrite ignores flushes until the first body byte. ReverseProxy flushes
// a streamed response's headers at once from a timer; for a gRPC trailers-only
// response (an error before any message) that flush would send grpc-status in
// headers without END_STREAM, and gRPC clients would miss the status.
//
// It ignores every flush of a unary method's response: its one message goes out
// with the trailers when the handler returns, so the HTTP/2 server writes the
// answer in fewer frames and system calls (docs/benchmarks.md, "Gateway cost").
type flushAfterWrite struct {
	http.ResponseWriter
	unary bool
	wrote atomic.Bool
}

func (w *flushAfterWrite) Write(p []byte) (int, error) {
	w.wrote.Store(true)
	return w.ResponseWriter.Write(p)
}

func (w *flushAfterWrite) FlushError() error {
	if w.unary || !w.wrote.Load() {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *flushAfterWrite) Flush() { _ = w.FlushError() }

func (w *flushAfterWrite) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// unaryMethods holds the gRPC path of every TextService method that answers with
// one message. Any other path (a streaming method, health, reflection) streams.
var unaryMethods = func() map[string]bool {
	unary := map[string]bool{}
	for _, method := range aitextv1.TextService_ServiceDesc.Methods {
		unary["/"+aitextv1.TextService_ServiceDesc.ServiceName+"/"+method.MethodName] = true
	}
	return unary
}()

// copyBuffers lends ReverseProxy its 32 KiB copy buffers from a pool instead of
// allocating one per response.
type copyBuffers struct{}

var copyBufferPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (copyBuffers) Get() []byte { return copyBufferPool.Get().(*[32 << 10]byte)[:] }

func (copyBuffers) Put(buf []byte) { copyBufferPool.Put((*[32 << 10]byte)(buf)) }
