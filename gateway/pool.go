package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// errNoBackend is returned when every backend is down or has already refused the request.
var errNoBackend = errors.New("no healthy backend")

// backend is one server address. Its workers share the port with SO_REUSEPORT, so
// requests are spread over several connections to let the kernel spread them over
// the workers.
type backend struct {
	addr       string
	transports []*http.Transport
	next       atomic.Uint64
	healthy    atomic.Bool
	requests   atomic.Uint64
	failures   atomic.Uint64
	health     healthpb.HealthClient
	conn       *grpc.ClientConn
}

func (b *backend) transport() *http.Transport {
	return b.transports[b.next.Add(1)%uint64(len(b.transports))]
}

func (b *backend) setHealthy(healthy bool, reason string) {
	if b.healthy.Swap(healthy) != healthy {
		if healthy {
			slog.Info("backend up", "backend", b.addr)
		} else {
			slog.Warn("backend down", "backend", b.addr, "reason", reason)
		}
	}
}

// pool is an http.RoundTripper that sends each request to the next healthy backend,
// round-robin, over cleartext HTTP/2. A backend is skipped from the moment a
// connection to it fails or its grpc.health.v1 check stops answering SERVING, and
// is used again once the check answers SERVING.
type pool struct {
	backends []*backend
	next     atomic.Uint64
	interval time.Duration
	stop     context.CancelFunc
	done     sync.WaitGroup
}

func newPool(addrs []string, connsPerBackend int, interval time.Duration) (*pool, error) {
	if len(addrs) == 0 {
		return nil, errors.New("no backends")
	}
	p := &pool{interval: interval}
	for _, addr := range addrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("backend %q: want host:port: %w", addr, err)
		}
		conn, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			// Reconnect quickly: a restarted backend must be noticed within a few checks.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, MaxDelay: interval},
				MinConnectTimeout: interval,
			}))
		if err != nil {
			return nil, fmt.Errorf("backend %q: %w", addr, err)
		}
		b := &backend{addr: addr, conn: conn, health: healthpb.NewHealthClient(conn)}
		for range max(connsPerBackend, 1) {
			b.transports = append(b.transports, newH2CTransport())
		}
		b.healthy.Store(true) // until the first check says otherwise
		p.backends = append(p.backends, b)
	}
	return p, nil
}

func newH2CTransport() *http.Transport {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	return &http.Transport{
		Protocols:       &protocols,
		DialContext:     (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		IdleConnTimeout: 90 * time.Second,
		// A ping after 30 s without a frame: the server accepts one every 10 s (README, "Keepalive");
		// pinging faster than it allows got the connection dropped mid-call at +60 s.
		HTTP2: &http.HTTP2Config{PingTimeout: 10 * time.Second, SendPingTimeout: 30 * time.Second},
	}
}

// start runs the periodic health checks until close.
func (p *pool) start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	for _, b := range p.backends {
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			ticker := time.NewTicker(p.interval)
			defer ticker.Stop()
			for {
				p.check(ctx, b)
				select {
				case <-ctx.Done():
					return
				case <-ticker.C:
				}
			}
		}()
	}
}

func (p *pool) check(ctx context.Context, b *backend) {
	ctx, cancel := context.WithTimeout(ctx, p.interval)
	defer cancel()
	resp, err := b.health.Check(ctx, &healthpb.HealthCheckRequest{})
	switch {
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled):
		return // shutting down
	case err != nil:
		b.setHealthy(false, err.Error())
	case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
		b.setHealthy(false, resp.GetStatus().String())
	default:
		b.setHealthy(true, "")
	}
}

func (p *pool) close() {
	if p.stop != nil {
		p.stop()
	}
	p.done.Wait()
	for _, b := range p.backends {
		_ = b.conn.Close()
		for _, t := range b.transports {
			t.CloseIdleConnections()
		}
	}
}

// pick returns the next healthy backend not in tried, or nil.
func (p *pool) pick(tried []*backend) *backend {
	n := len(p.backends)
	start := int(p.next.Add(1) % uint64(n))
	for i := range n {
		b := p.backends[(start+i)%n]
		if b.healthy.Load() && !contains(tried, b) {
			return b
		}
	}
	return nil
}

func contains(list []*backend, b *backend) bool {
	for _, x := range list {
		if x == b {
			return true
		}
	}
	return false
}

func (p *pool) RoundTrip(req *http.Request) (*http.Response, error) {
	var body *trackingBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &trackingBody{r: req.Body}
	}
	var tried []*backend
	for {
		b := p.pick(tried)
		if b == nil {
			return nil, errNoBackend
		}
		tried = append(tried, b)
		out := req.Clone(req.Context())
		out.URL.Scheme = "http"
		out.URL.Host = b.addr
		out.Host = b.addr
		if body != nil {
			out.Body = body
		}
		b.requests.Add(1)
		resp, err := b.transport().RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		if req.Context().Err() != nil || (body != nil && body.failed()) {
			return nil, err // the client's doing, not the backend's
		}
		b.failures.Add(1)
		b.setHealthy(false, err.Error())
		// The request can go to another backend only if this one never saw it.
		if !isDialError(err) || (body != nil && body.read.Load()) {
			return nil, err
		}
	}
}

func isDialError(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// trackingBody lets a request be retried on another backend when the first one
// could not be reached: it records whether any byte was consumed, and leaves
// closing the original body to the server that owns it.
type trackingBody struct {
	r       io.Reader
	read    atomic.Bool
	readErr atomic.Bool // reading the request failed (too large, malformed, client gone)
}

func (t *trackingBody) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.read.Store(true)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		t.readErr.Store(true)
	}
	return n, err
}

func (t *trackingBody) failed() bool { return t.readErr.Load() }

func (t *trackingBody) Close() error { return nil }

// backendStatus is one row of /debug/backends.
type backendStatus struct {
	Address  string `json:"address"`
	Healthy  bool   `json:"healthy"`
	Requests uint64 `json:"requests"`
	Failures uint64 `json:"failures"`
}

func (p *pool) status() []backendStatus {
	rows := make([]backendStatus, 0, len(p.backends))
	for _, b := range p.backends {
		rows = append(rows, backendStatus{b.addr, b.healthy.Load(), b.requests.Load(), b.failures.Load()})
	}
	return rows
}

func (p *pool) anyHealthy() bool {
	for _, b := range p.backends {
		if b.healthy.Load() {
			return true
		}
	}
	return false
}
