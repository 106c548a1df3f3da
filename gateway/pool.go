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

	"connectrpc.com/connect"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// errNoBackend is returned when every backend is down or has already refused the request.
var errNoBackend = errors.New("no healthy backend")

// backend is one server address. Its workers share the port with SO_REUSEPORT, so
// the gateway keeps several lanes (HTTP/2 transports, each with its own connection)
// to let the kernel spread them over the workers. Each lane is health-checked over
// its own connection: a dead or draining worker takes out only the lanes connected
// to it, never the address.
type backend struct {
	addr     string
	lanes    []*lane
	next     atomic.Uint64
	requests atomic.Uint64
	failures atomic.Uint64
	moves    moveState // lanes moved to even their spread over the workers (spread.go)
}

// lane is one HTTP/2 transport to a backend, the health of the worker its
// connection reached, and which worker that is when the server says (spread.go).
type lane struct {
	conn    atomic.Pointer[laneConn]
	healthy atomic.Bool
	// failedChecks counts the checks in a row that found the worker not serving.
	failedChecks atomic.Int32
	worker       atomic.Pointer[worker] // nil: not known (yet, or the server does not say)
}

// laneConn is a lane's transport and the health client that checks over it. A lane
// that moves to another worker swaps in a new one (spread.go).
type laneConn struct {
	transport *http.Transport
	health    *connect.Client[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse]
}

func newLaneConn(addr string) *laneConn {
	transport := newH2CTransport()
	return &laneConn{
		transport: transport,
		health: connect.NewClient[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse](
			&http.Client{Transport: transport}, "http://"+addr+"/grpc.health.v1.Health/Check", connect.WithGRPC()),
	}
}

// checksToMarkDown is how many failed checks in a row take a lane out of rotation. One
// check that times out says the worker was slow once (a long computation, a loaded
// machine), not that it is gone; a worker that is gone refuses the dial, which takes
// the backend out at once (refuse).
const checksToMarkDown = 2

// pickLane returns the next healthy lane, round-robin, or nil.
func (b *backend) pickLane() *lane {
	n := uint64(len(b.lanes))
	start := b.next.Add(1)
	for i := range n {
		if l := b.lanes[(start+i)%n]; l.healthy.Load() {
			return l
		}
	}
	return nil
}

func (b *backend) healthyLanes() int {
	count := 0
	for _, l := range b.lanes {
		if l.healthy.Load() {
			count++
		}
	}
	return count
}

// setLane records one lane's health and logs when the backend as a whole goes up or down.
func (b *backend) setLane(l *lane, healthy bool, reason string) {
	before := b.healthyLanes() > 0
	if l.healthy.Swap(healthy) == healthy {
		return
	}
	switch after := b.healthyLanes() > 0; {
	case after && !before:
		slog.Info("backend up", "backend", b.addr)
	case before && !after:
		slog.Warn("backend down", "backend", b.addr, "reason", reason)
	}
}

// refuse takes the whole address out of rotation: a fresh dial failed, so no
// worker accepts connections on the port. Health checks bring it back.
func (b *backend) refuse(reason string) {
	for _, l := range b.lanes {
		b.setLane(l, false, reason)
	}
}

// pool is an http.RoundTripper that sends each request to the next healthy backend,
// round-robin, over cleartext HTTP/2. Only the backend can count against itself:
// a refused dial takes its address out of rotation at once, and a failing
// grpc.health.v1 check (asked again over a fresh connection) takes out the lane it
// ran on. A connection that breaks mid-call costs only the calls on it; the
// transport dials anew for the next request.
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
		b := &backend{addr: addr}
		for range max(connsPerBackend, 1) {
			l := &lane{}
			l.conn.Store(newLaneConn(addr))
			l.healthy.Store(true) // until the first check says otherwise
			b.lanes = append(b.lanes, l)
		}
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

// start runs the periodic health checks of every lane until close.
func (p *pool) start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	for _, b := range p.backends {
		for _, l := range b.lanes {
			p.done.Add(1)
			go func() {
				defer p.done.Done()
				ticker := time.NewTicker(p.interval)
				defer ticker.Stop()
				for {
					p.check(ctx, b, l)
					p.spread(ctx, b, l)
					select {
					case <-ctx.Done():
						return
					case <-ticker.C:
					}
				}
			}()
		}
	}
}

// check asks the worker behind one lane for its health. A failed answer may come
// from a connection whose worker just died; the lane is marked down only if the
// check fails again over a fresh connection.
func (p *pool) check(ctx context.Context, b *backend, l *lane) {
	ctx, cancel := context.WithTimeout(ctx, p.interval)
	defer cancel()
	reason := p.ask(ctx, l)
	if reason != "" && ctx.Err() == nil {
		l.conn.Load().transport.CloseIdleConnections()
		reason = p.ask(ctx, l)
	}
	if errors.Is(context.Cause(ctx), context.Canceled) {
		return // shutting down
	}
	if reason == "" {
		l.failedChecks.Store(0)
	} else if l.failedChecks.Add(1) < checksToMarkDown {
		return
	}
	b.setLane(l, reason == "", reason)
}

// ask returns why the lane's worker is not serving, or "" when it is; it records
// which worker answered when the server says.
func (p *pool) ask(ctx context.Context, l *lane) string {
	resp, err := l.conn.Load().health.CallUnary(ctx, connect.NewRequest(&healthpb.HealthCheckRequest{}))
	switch {
	case err != nil:
		return err.Error()
	case resp.Msg.GetStatus() != healthpb.HealthCheckResponse_SERVING:
		return resp.Msg.GetStatus().String()
	default:
		l.worker.Store(parseWorker(resp.Header().Get(workerHeader)))
		return ""
	}
}

func (p *pool) close() {
	if p.stop != nil {
		p.stop()
	}
	p.done.Wait()
	for _, b := range p.backends {
		for _, l := range b.lanes {
			l.conn.Load().transport.CloseIdleConnections()
		}
	}
}

// pick returns the next backend with a healthy lane not in tried, and that lane; or nils.
func (p *pool) pick(tried []*backend) (*backend, *lane) {
	n := len(p.backends)
	start := int(p.next.Add(1) % uint64(n))
	for i := range n {
		b := p.backends[(start+i)%n]
		if contains(tried, b) {
			continue
		}
		if l := b.pickLane(); l != nil {
			return b, l
		}
	}
	return nil, nil
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
	if req.GetBody == nil && req.Body != nil && req.Body != http.NoBody {
		body = &trackingBody{r: req.Body}
	}
	var tried []*backend
	for {
		b, l := p.pick(tried)
		if b == nil {
			return nil, errNoBackend
		}
		tried = append(tried, b)
		resp, err := p.send(req, body, b, l)
		if err != nil && req.GetBody != nil && !isDialError(err) && req.Context().Err() == nil {
			// The connection broke before any answer came (its worker died or closed
			// it). The transport has dropped that connection, so this lane dials anew
			// and the kernel hands the new connection to a live worker. The request is
			// buffered and every TextService method is idempotent: send it once more.
			b.failures.Add(1)
			resp, err = p.send(req, body, b, l)
		}
		if err == nil {
			return resp, nil
		}
		if req.Context().Err() != nil || (body != nil && body.failed()) {
			return nil, err // the client's doing, not the backend's
		}
		b.failures.Add(1)
		if !isDialError(err) {
			// The connection broke mid-call. It costs only this call: the transport
			// dials anew for the next request, and the backend stays in rotation.
			return nil, err
		}
		b.refuse(err.Error())
		// The request can go to another backend only if this one never saw it.
		if body != nil && body.read.Load() {
			return nil, err
		}
	}
}

// send makes one attempt of req on lane l of backend b: a buffered body is sent
// whole each time, a streamed one through its tracker.
func (p *pool) send(req *http.Request, body *trackingBody, b *backend, l *lane) (*http.Response, error) {
	// A shallow copy: a RoundTripper must not change the caller's request, and only
	// the URL and the host differ (ReverseProxy has already copied the headers).
	out := new(http.Request)
	*out = *req
	target := *req.URL
	target.Scheme, target.Host = "http", b.addr
	out.URL, out.Host = &target, b.addr
	switch {
	case req.GetBody != nil:
		fresh, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		out.Body = fresh
	case body != nil:
		out.Body = body
	}
	b.requests.Add(1)
	return l.conn.Load().transport.RoundTrip(out)
}

func isDialError(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// trackingBody lets a streamed request be retried on another backend when the
// first one could not be reached: it records whether any byte was consumed, and
// leaves closing the original body to the server that owns it.
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
	Address            string `json:"address"`
	Healthy            bool   `json:"healthy"`
	Requests           uint64 `json:"requests"`
	Failures           uint64 `json:"failures"`
	Connections        int    `json:"connections"`
	HealthyConnections int    `json:"healthy_connections"`
	// ConnectionsPerWorker counts the connections on each worker that said who it is
	// (spread.go), such as {"host/0": 2, "host/1": 2}.
	ConnectionsPerWorker map[string]int `json:"connections_per_worker,omitempty"`
}

func (p *pool) status() []backendStatus {
	rows := make([]backendStatus, 0, len(p.backends))
	for _, b := range p.backends {
		healthy := b.healthyLanes()
		rows = append(rows, backendStatus{
			b.addr, healthy > 0, b.requests.Load(), b.failures.Load(), len(b.lanes), healthy, b.lanesPerWorker(),
		})
	}
	return rows
}

func (p *pool) anyHealthy() bool {
	for _, b := range p.backends {
		if b.healthyLanes() > 0 {
			return true
		}
	}
	return false
}
