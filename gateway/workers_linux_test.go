package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
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
// --workers n` does; the kernel spreads new connections over them, and each names
// itself in its health checks' answers ("test/<index>/<n>") as the server does.
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
	for i, name := range names {
		ln, err := config.Listen(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		workers = append(workers, serveBackend(t, ln, name, fmt.Sprintf("test/%d/%d", i, len(names))))
	}
	return workers
}

// workersAnswering calls until every named worker has answered, or fails. The
// gateway moves its connections until every worker has some (spread.go).
func workersAnswering(t *testing.T, client aitextv1.TextServiceClient, names ...string) {
	t.Helper()
	seen := map[string]int{}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		for name := range models(t, client, 1) {
			seen[name]++
		}
		if len(seen) == len(names) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not every worker answered in 10 s: %v", seen)
}

// The kernel hashes each connection onto a worker; the gateway moves connections
// until the spread is even, so no worker is left without calls.
func TestConnectionsSpreadEvenlyOverTheWorkers(t *testing.T) {
	for _, tc := range []struct {
		workers, conns int
		want           []int // connections per worker, sorted
	}{
		{workers: 2, conns: 4, want: []int{2, 2}},
		{workers: 4, conns: 4, want: []int{1, 1, 1, 1}},
		{workers: 3, conns: 4, want: []int{1, 1, 2}},
	} {
		t.Run(fmt.Sprintf("%d workers %d connections", tc.workers, tc.conns), func(t *testing.T) {
			var names []string
			for i := range tc.workers {
				names = append(names, fmt.Sprintf("w%d", i))
			}
			workers := startWorkers(t, names...)
			url, debug := startGateway(t, config{Backends: []string{workers[0].addr}, ConnsPerBackend: tc.conns,
				HealthInterval: 20 * time.Millisecond})
			var got []int
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				got = got[:0]
				for _, n := range backendStatuses(t, debug)[workers[0].addr].ConnectionsPerWorker {
					got = append(got, n)
				}
				slices.Sort(got)
				if slices.Equal(got, tc.want) {
					break
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("connections per worker: %v, want %v", got, tc.want)
			}
			// Round-robin over the connections: as many calls as connections reach every worker.
			if seen := models(t, grpcClient(t, url), tc.conns); len(seen) != tc.workers {
				t.Errorf("%d calls reached %v, not all %d workers", tc.conns, seen, tc.workers)
			}
		})
	}
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
