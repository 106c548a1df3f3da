package main

import (
	"context"
	"testing"
	"time"
)

func TestParseWorker(t *testing.T) {
	for value, want := range map[string]*worker{
		"web-1/0/2":  {run: "web-1", index: 0, count: 2},
		"h/3/4":      {run: "h", index: 3, count: 4},
		"":           nil,
		"h/0":        nil,
		"/0/2":       nil, // no run
		"h/2/2":      nil, // index out of range
		"h/-1/2":     nil,
		"h/0/0":      nil,
		"h/x/2":      nil,
		"h/0/2/junk": nil,
	} {
		got := parseWorker(value)
		if (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("parseWorker(%q) = %+v, want %+v", value, got, want)
		}
	}
}

// lanesOn builds a backend whose lanes reached the given workers ("" for a lane
// whose server did not say).
func lanesOn(workers ...string) *backend {
	b := &backend{addr: "127.0.0.1:1"} // nothing listens: a check over a new connection fails at once
	for _, w := range workers {
		l := &lane{}
		l.conn.Store(newLaneConn(b.addr))
		l.worker.Store(parseWorker(w))
		l.healthy.Store(true)
		b.lanes = append(b.lanes, l)
	}
	return b
}

func TestAMoveIsDueOnlyFromAWorkerWithTwoLanesMoreThanTheLeastServed(t *testing.T) {
	for _, tc := range []struct {
		lanes []string
		move  []bool // per lane
	}{
		{[]string{"h/0/2", "h/0/2", "h/1/2", "h/1/2"}, []bool{false, false, false, false}},
		{[]string{"h/0/2", "h/0/2", "h/0/2", "h/1/2"}, []bool{true, true, true, false}},
		{[]string{"h/0/2", "h/0/2", "h/0/2", "h/0/2"}, []bool{true, true, true, true}}, // worker 1 has none
		{[]string{"h/0/3", "h/0/3", "h/1/3", "h/1/3"}, []bool{true, true, true, true}}, // worker 2 has none
		{[]string{"h/0/4", "h/1/4", "h/2/4", "h/3/4"}, []bool{false, false, false, false}},
		{[]string{"", "", "", ""}, []bool{false, false, false, false}}, // a server that does not say
		// Two runs (hosts) behind one address, one worker each: 3+1 is uneven.
		{[]string{"a/0/1", "a/0/1", "a/0/1", "b/0/1"}, []bool{true, true, true, false}},
	} {
		for i, want := range tc.move {
			b := lanesOn(tc.lanes...) // fresh pacing for each lane asked
			if got := b.shouldMove(b.lanes[i], time.Second); got != want {
				t.Errorf("%v: lane %d should move: %v, want %v", tc.lanes, i, got, want)
			}
		}
	}
}

func TestMovesArePacedAndBackOffWhileTheSpreadStaysUneven(t *testing.T) {
	// Worker 1 of 2 never takes a connection (it died, or its count is wrong).
	b := lanesOn("h/0/2", "h/0/2", "h/0/2", "h/0/2")
	interval := 10 * time.Millisecond
	if !b.shouldMove(b.lanes[0], interval) {
		t.Fatal("the first move is due at once")
	}
	if b.shouldMove(b.lanes[1], interval) {
		t.Fatal("a second move within the interval")
	}
	var pauses []time.Duration
	for range 3 * len(b.lanes) {
		b.moves.next = time.Time{} // as if the pause had passed
		if !b.shouldMove(b.lanes[0], interval) {
			t.Fatal("a move was refused after its pause")
		}
		pauses = append(pauses, time.Until(b.moves.next).Round(interval))
	}
	// One interval for the first round of moves, then doubling each round.
	if pauses[0] != interval || pauses[len(b.lanes)] != 2*interval || pauses[2*len(b.lanes)-1] != 4*interval {
		t.Errorf("pauses between moves: %v", pauses)
	}
	// Once the spread is even the back-off starts again from one interval.
	b.lanes[0].worker.Store(parseWorker("h/1/2"))
	b.lanes[1].worker.Store(parseWorker("h/1/2"))
	if b.shouldMove(b.lanes[2], interval) || b.moves.pending != 0 {
		t.Errorf("an even spread: move due, or %d moves still counted", b.moves.pending)
	}
}

func TestTheLastHealthyLaneNeverMoves(t *testing.T) {
	b := lanesOn("h/0/2", "h/0/2") // worker 1 has no lane: a move is due
	p := &pool{backends: []*backend{b}, interval: time.Second}
	b.lanes[1].healthy.Store(false)
	before := b.lanes[0].conn.Load()
	p.spread(context.Background(), b, b.lanes[0])
	if b.lanes[0].conn.Load() != before || !b.lanes[0].healthy.Load() {
		t.Fatal("the backend's only healthy lane moved")
	}
	// With the other lane healthy, it moves; its check over the new connection fails
	// (nothing listens), so it takes no calls.
	b.lanes[1].healthy.Store(true)
	p.spread(context.Background(), b, b.lanes[0])
	if b.lanes[0].conn.Load() == before || b.lanes[0].healthy.Load() {
		t.Error("the lane did not move, or took calls before a check passed over its new connection")
	}
}
