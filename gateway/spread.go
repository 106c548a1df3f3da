package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The workers of one `aitext serve` share its port (SO_REUSEPORT), and the kernel
// hashes each new connection onto one of them: a backend's lanes can end up 3+1 or
// 4+0 on two workers, and with more workers than lanes most workers get none. The
// server names the worker behind a connection in the health check's answer, with
// how many workers share its port; a lane on a worker that has two lanes more than
// the least served one (a worker no lane reached has none) dials a new connection,
// which the kernel hashes again. One lane moves per backend per health interval,
// and the pause doubles while moves do not even the spread, so a worker that never
// answers (dead, or the count is wrong) costs a few dials, not a churn.

// workerHeader is the health check answer's header that names the worker:
// "<run>/<index>/<count>", such as "3f9c2a71b0de/0/2": run is random per `aitext
// serve`, so workers of different hosts behind one address never share a name
// (python/aitext/server.py, WorkerHealthServicer).
const workerHeader = "Aitext-Worker"

// worker is one server process: its `aitext serve` run (several hosts can stand
// behind one address), its index among the run's workers, and how many there are.
type worker struct {
	run          string
	index, count int
}

func (w worker) String() string { return fmt.Sprintf("%s/%d", w.run, w.index) }

// parseWorker reads the header; nil when it is missing or malformed.
func parseWorker(value string) *worker {
	run, rest, ok := strings.Cut(value, "/")
	if !ok {
		return nil
	}
	indexText, countText, ok := strings.Cut(rest, "/")
	if !ok {
		return nil
	}
	index, err1 := strconv.Atoi(indexText)
	count, err2 := strconv.Atoi(countText)
	if err1 != nil || err2 != nil || run == "" || count < 1 || index < 0 || index >= count {
		return nil
	}
	return &worker{run: run, index: index, count: count}
}

// moveState paces a backend's lane moves.
type moveState struct {
	mu      sync.Mutex
	next    time.Time // no move before
	pending int       // moves since the spread was last even
}

// maxMovePause bounds the pause between moves while the spread stays uneven.
const maxMovePause = time.Minute

// spread moves lane l to a new connection when its worker has more than its share
// of the backend's lanes. The new connection takes no call before a check has
// passed over it: it may have reached a worker that is draining. A backend's last
// healthy lane never moves, so that a move never leaves it without one.
func (p *pool) spread(ctx context.Context, b *backend, l *lane) {
	if !l.healthy.Load() || b.healthyLanes() < 2 || !b.shouldMove(l, p.interval) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, p.interval)
	defer cancel()
	b.setLane(l, false, "moving to another worker")
	l.moveTo(newLaneConn(b.addr))
	reason := p.ask(ctx, l)
	if errors.Is(context.Cause(ctx), context.Canceled) {
		return // shutting down
	}
	b.setLane(l, reason == "", reason)
}

// shouldMove says whether lane l should move to a new connection: its worker has
// two lanes more than the least served worker of the backend, and the backend's
// pacing allows a move now. Called after each passing check of l.
func (b *backend) shouldMove(l *lane, interval time.Duration) bool {
	mine := l.worker.Load()
	if mine == nil {
		return false
	}
	counts, fewest := b.spreadNow()
	b.moves.mu.Lock()
	defer b.moves.mu.Unlock()
	if counts[mine.String()] < fewest+2 {
		if isEven(counts, fewest) {
			b.moves.pending = 0
		}
		return false
	}
	now := time.Now()
	if now.Before(b.moves.next) {
		return false
	}
	b.moves.next = now.Add(min(interval<<min(b.moves.pending/len(b.lanes), 16), maxMovePause))
	b.moves.pending++
	slog.Debug("moving a connection to even the spread over workers", "backend", b.addr, "from", mine.String(), "lanes", counts)
	return true
}

// isEven says whether no worker has two lanes more than the least served one.
func isEven(counts map[string]int, fewest int) bool {
	for _, n := range counts {
		if n >= fewest+2 {
			return false
		}
	}
	return true
}

// spreadNow counts the lanes on each known worker, and the fewest any worker has:
// 0 when a run declares more workers than the lanes have reached.
func (b *backend) spreadNow() (map[string]int, int) {
	counts := map[string]int{}
	declared := map[string]int{} // run -> how many workers it has
	reached := map[string]int{}  // run -> how many of them a lane reached
	for _, l := range b.lanes {
		w := l.worker.Load()
		if w == nil {
			continue
		}
		if counts[w.String()] == 0 {
			reached[w.run]++
		}
		counts[w.String()]++
		declared[w.run] = w.count
	}
	fewest := -1
	for run, count := range declared {
		if reached[run] < count {
			fewest = 0
		}
	}
	if fewest < 0 {
		for _, n := range counts {
			if fewest < 0 || n < fewest {
				fewest = n
			}
		}
	}
	return counts, max(fewest, 0)
}

// lanesPerWorker is spreadNow's counts, or nil when no worker has said who it is.
func (b *backend) lanesPerWorker() map[string]int {
	counts, _ := b.spreadNow()
	if len(counts) == 0 {
		return nil
	}
	return counts
}

// moveTo sends the lane's next calls over a new connection. Calls in flight on the
// old one finish there; the old transport closes its connection once idle
// (IdleConnTimeout), or now if it already is.
func (l *lane) moveTo(next *laneConn) {
	old := l.conn.Swap(next)
	l.worker.Store(nil) // until the next check says which worker the new connection reached
	old.transport.CloseIdleConnections()
}
