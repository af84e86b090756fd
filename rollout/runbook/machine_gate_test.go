package runbook

import (
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
)

// The stabilise gate's caught-up check follows the leader (evalStabilise):
// a node whose apply loop stalls after it turned ready fails it, while a
// node that is always an entry behind (an append in flight) passes.

// stepPinned steps the world, then pins node's applied index with pin.
func stepPinned(w *mtWorld, n *mtNode, pin func() uint64) {
	w.step()
	n.applied = pin()
}

func TestGateCatchesStalledApply(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.send(Begin{At: w.now})
	// Until fw-b's gate has held a while, then freeze its raft_last_applied.
	w.runUntil(func() bool {
		g := w.m.Gate
		return g.Open && g.Name == "stabilise" && g.Node == "fw-b" && !g.HeldSince().IsZero() && w.now.Sub(g.HeldSince()) >= 2e9
	})
	n := w.node("fw-b")
	frozen := n.applied
	for i := 0; i < 2000 && w.m.Failure == nil; i++ {
		stepPinned(w, n, func() uint64 { return frozen })
	}
	f := w.m.Failure
	if f == nil || f.Node != "fw-b" || f.Kind != FailTimeout {
		t.Fatalf("a stalled fw-b was not failed by its gate: failure %+v, phase %s", f, w.m.Phase)
	}
	caught := false
	for _, c := range f.Checks {
		if (c.Gate == health.GateCaughtUp || c.Gate == health.GateApplied) && !c.OK && strings.Contains(strings.Join(c.Reasons, ";"), "raft_last_applied") {
			caught = true
		}
	}
	if !caught {
		t.Errorf("the caught-up check did not name raft_last_applied: %+v", f.Checks)
	}
}

func TestGateToleratesOneEntryInFlight(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool {
		g := w.m.Gate
		return g.Open && g.Name == "stabilise" && g.Node == "fw-b"
	})
	n := w.node("fw-b")
	// fw-b lags the leader by one entry in every sample: its stats row is
	// never caught_up at the instant, yet it keeps up.
	for i := 0; i < 500; i++ {
		if s, ok := w.m.StepByID("upgrade/fw-b"); ok && s.Status == StatusDone {
			return
		}
		if w.m.Failure != nil {
			t.Fatalf("fw-b failed although it keeps up: %s", w.m.Failure.Reason)
		}
		stepPinned(w, n, func() uint64 {
			if n.up && w.ready(n) {
				return w.index - 1
			}
			return n.applied
		})
	}
	t.Fatalf("fw-b's gate never passed; gate %+v", w.m.Gate)
}

// A holding gate asks to be woken when its window ends (NextWake); a
// sample taken before the end that comes back after it makes the machine
// take the closing sample at once, and that sample passes the gate.
func TestGateWakesAtTheWindowsEnd(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool {
		g := w.m.Gate
		return g.Open && g.Name == "stabilise" && g.Node == "fw-b" && !g.HeldSince().IsZero() && len(w.queue) == 0
	})
	g := w.m.Gate
	wake := w.m.NextWake()
	if want := g.HeldSince().Add(g.Hold); !wake.Equal(want) || g.Hold <= 0 {
		t.Fatalf("NextWake %s, want the window's end %s (held since %s, hold %s)", wake, want, g.HeldSince(), g.Hold)
	}
	// A poll taken 10 ms before the end answers 5 ms after it.
	w.now = wake.Add(-10 * time.Millisecond)
	w.index++
	w.send(Tick{Now: w.now})
	polls := mtOfKind[PollHealth](w.queue)
	if len(polls) != 1 {
		t.Fatalf("a tick in the window launched %d polls, want 1 (queue %v)", len(polls), w.queue)
	}
	w.queue = nil
	early := w.snapshot()
	w.now = wake.Add(5 * time.Millisecond)
	effs := w.send(Snapshot{ID: polls[0].ID, Snap: early, At: w.now})
	if s, _ := w.m.StepByID("upgrade/fw-b"); s.Status == StatusDone {
		t.Fatal("a sample taken before the window's end passed the gate")
	}
	again := mtOfKind[PollHealth](effs)
	if len(again) != 1 {
		t.Fatalf("the late answer launched %d polls, want the closing one at once: %v", len(again), effs)
	}
	w.queue = nil
	w.send(Snapshot{ID: again[0].ID, Snap: w.snapshot(), At: w.now})
	if s, _ := w.m.StepByID("upgrade/fw-b"); s.Status != StatusDone {
		t.Fatalf("the closing sample, 5 ms after the window's end, did not pass the gate: step %s, gate %+v", s.Status, w.m.Gate.Results())
	}
	if g := w.m.Gate; g.Open && g.Step == "upgrade/fw-b" {
		t.Errorf("fw-b's gate is still open after it passed: %+v", g)
	}
}

// A gate whose checks do not all hold yet samples again gateSampleEvery
// after the latest sample came back, and asks for nothing while a poll is
// in flight.
func TestGateSamplesSoonWhileWaiting(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool {
		g := w.m.Gate
		return g.Open && g.Name == "stabilise" && g.Node == "fw-b" && len(w.queue) == 0 && !w.m.NextWake().IsZero()
	})
	if !w.m.Gate.HeldSince().IsZero() {
		t.Fatal("fw-b's gate holds right after its start; the world should keep it waiting 2 s")
	}
	answered := w.m.polledAt
	if got, want := w.m.NextWake(), answered.Add(gateSampleEvery); !got.Equal(want) {
		t.Fatalf("NextWake %s, want %s (the latest answer at %s + %s)", got, want, answered, gateSampleEvery)
	}
	w.now = w.m.NextWake()
	w.send(Tick{Now: w.now})
	if len(mtOfKind[PollHealth](w.queue)) != 1 {
		t.Fatalf("the wake launched no poll: %v", w.queue)
	}
	if !w.m.NextWake().IsZero() {
		t.Errorf("NextWake %s with a poll in flight, want none", w.m.NextWake())
	}
}
