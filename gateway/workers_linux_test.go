package main

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/aitext/aitext/clients/go/aitextv1"
)

// startWorkers serves n backends on one port with SO_REUSEPORT, as `aitext serve
// --workers n` does; the kernel spreads new connections over them.
func startWorkers(t *testing.T, names ...string) []*testBackend {
	t.Helper()
	config := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var sockErr error
		err := c.Control(func(fd uintptr) {
			sockErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		return errors.Join(err, sockErr)
	}}
	addr := "127.0.0.1:0"
	var workers []*testBackend
	for _, name := range names {
		ln, err := config.Listen(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		workers = append(workers, serveBackend(t, ln, name))
	}
	return workers
}

// workersAnswering calls until every named worker has answered, or fails.
func workersAnswering(t *testing.T, client aitextv1.TextServiceClient, names ...string) {
	t.Helper()
	seen := map[string]int{}
	for range 200 {
		for name := range models(t, client, 1) {
			seen[name]++
		}
		if len(seen) == len(names) {
			return
		}
	}
	t.Skipf("the kernel put every connection on one worker: %v", seen)
}

func TestOneWorkerDyingCostsOnlyItsCallsInFlight(t *testing.T) {
	workers := startWorkers(t, "w1", "w2")
	url, debug := startGateway(t, config{Backends: []string{workers[0].addr}, ConnsPerBackend: 4})
	client := grpcClient(t, url)
	workersAnswering(t, client, "w1", "w2")
	for _, w := range workers {
		w.text.delay = 50 * time.Millisecond // so that calls are in flight on w1 when it dies
	}

	const callers = 4
	var (
		mu       sync.Mutex
		failures []string
		after    = map[string]int{} // answers after w1 died, by worker
	)
	killed := make(chan struct{})
	stop := time.Now().Add(1500 * time.Millisecond)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				resp, err := client.Process(ctxTimeout(t), &aitextv1.ProcessRequest{Text: "x"})
				mu.Lock()
				select {
				case <-killed:
					if err == nil {
						after[resp.GetModel()]++
					}
				default:
				}
				if err != nil {
					failures = append(failures, err.Error())
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	workers[0].server.Stop() // closes its listener and every connection at once, as SIGKILL would
	close(killed)
	mu.Unlock()
	wg.Wait()

	// Each caller had at most one call in flight on w1 when it died.
	if len(failures) > callers {
		t.Errorf("%d calls failed, more than were in flight: %v", len(failures), failures)
	}
	for _, f := range failures {
		if strings.Contains(f, errNoBackend.Error()) {
			t.Errorf("the gateway answered %q while w2 was up", f)
		}
	}
	if after["w2"] < 40 {
		t.Errorf("answers after w1 died: %v", after)
	}
	if row := backendStatuses(t, debug)[workers[0].addr]; !row.Healthy {
		t.Errorf("the address was marked down: %+v", row)
	}
}

func TestDrainingWorkerTakesOnlyItsConnectionsOutOfRotation(t *testing.T) {
	workers := startWorkers(t, "w1", "w2")
	url, debug := startGateway(t, config{Backends: []string{workers[0].addr}, ConnsPerBackend: 4})
	client := grpcClient(t, url)
	workersAnswering(t, client, "w1", "w2")

	workers[0].health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	time.Sleep(500 * time.Millisecond) // a few checks: w1's connections leave the rotation
	if seen := models(t, client, 20); seen["w2"] != 20 {
		t.Errorf("calls while w1 drains: %v", seen)
	}
	if row := backendStatuses(t, debug)[workers[0].addr]; !row.Healthy {
		t.Errorf("the address was marked down while w2 serves: %+v", row)
	}
}
