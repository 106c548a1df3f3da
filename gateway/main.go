// Command gateway serves aitext's TextService as gRPC, gRPC-Web, Connect and
// REST/JSON on one port, forwarding to one or more server backends.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		slog.Error("gateway", "err", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	listen := fs.String("listen", envOr("AITEXT_GATEWAY_LISTEN", ":8080"), "address to serve on (env AITEXT_GATEWAY_LISTEN)")
	backends := fs.String("backends", envOr("AITEXT_GATEWAY_BACKENDS", "localhost:50051"),
		"comma-separated host:port of the gRPC servers (env AITEXT_GATEWAY_BACKENDS)")
	origins := fs.String("allowed-origins", os.Getenv("AITEXT_GATEWAY_ALLOWED_ORIGINS"),
		"comma-separated origins browsers may call from, or * (env AITEXT_GATEWAY_ALLOWED_ORIGINS; empty: no CORS)")
	interval := fs.Duration("health-interval", time.Second, "period of the grpc.health.v1 checks of each backend")
	conns := fs.Int("conns-per-backend", 4, "HTTP/2 connections per backend, spread over its SO_REUSEPORT workers")
	maxMessage := fs.Int("max-message-bytes", 64<<20, "largest request message the gateway buffers to transcode")
	debugListen := fs.String("debug-listen", os.Getenv("AITEXT_GATEWAY_DEBUG_LISTEN"),
		"address to serve /debug/* on, such as 127.0.0.1:8081 (env AITEXT_GATEWAY_DEBUG_LISTEN; empty: not served)")
	probe := fs.String("probe", "", "GET this URL, exit 0 on 200 and 1 otherwise (container healthcheck; no shell needed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *probe != "" {
		return probeURL(*probe)
	}
	cfg := config{
		Backends:        splitList(*backends),
		AllowedOrigins:  splitList(*origins),
		HealthInterval:  *interval,
		ConnsPerBackend: *conns,
		MaxMessageBytes: *maxMessage,
		Tracing:         tracingRequested(),
	}
	if cfg.Tracing {
		shutdown, err := startTracing(context.Background())
		if err != nil {
			return err
		}
		defer func() {
			// What is still batched goes out before the process ends.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = shutdown(ctx)
		}()
	}
	gw, err := newGateway(cfg)
	if err != nil {
		return err
	}
	defer gw.close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // native gRPC over h2c
	srv := &http.Server{Handler: gw.handler, Protocols: &protocols, ReadHeaderTimeout: 10 * time.Second}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	if *debugListen != "" {
		debugLn, err := net.Listen("tcp", *debugListen)
		if err != nil {
			return err
		}
		debugSrv := &http.Server{Handler: gw.debug, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, debugSrv)
		fmt.Printf("gateway debug listening on %s\n", debugLn.Addr())
		go func() { errc <- debugSrv.Serve(debugLn) }()
	}
	// The bound address on stdout lets scripts and tests use --listen 127.0.0.1:0.
	fmt.Printf("gateway listening on %s, backends %s\n", ln.Addr(), strings.Join(cfg.Backends, ","))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	return nil
}

func probeURL(url string) error {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func envOr(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return fallback
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
