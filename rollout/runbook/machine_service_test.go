package runbook

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
)

// longGateWorld is a 3-node rollout (leader fw-a; fw-b first) whose gate
// timeout is far longer than a crash loop takes to show.
func longGateWorld(t *testing.T) *mtWorld {
	o := mtOpts()
	o.GateTimeout = 2 * time.Minute
	return newWorld(t, mtPlan(t, 3, 0, o), MachineOptions{})
}

// The target crash-loops on fw-b (runs 3 s, systemd restarts it 2 s
// later): the gate re-reads fw-b's unit, sees the second restart and fails
// at once as an abort naming the restarts, long before its timeout; the
// failure offers no keep-waiting.
func TestMachineCrashLoopFailsTheGateAtOnce(t *testing.T) {
	w := longGateWorld(t)
	w.crashNew["fw-b"] = true
	w.send(Begin{At: w.now})
	var opened time.Time
	w.runUntil(func() bool {
		if w.m.Gate.Open && w.m.Gate.Step == "upgrade/fw-b" && w.m.Gate.Name == "stabilise" && opened.IsZero() {
			opened = w.m.Gate.Opened()
		}
		return w.m.Failure != nil
	})
	f := w.m.Failure
	if f.Kind != FailAbort || f.Node != "fw-b" || f.Step != "upgrade/fw-b" {
		t.Fatalf("failure %+v", f)
	}
	for _, want := range []string{"abort condition: fw-b: neuwerk.service restarted 2 times since the start (", "): it is crash-looping"} {
		if !strings.Contains(f.Reason, want) {
			t.Errorf("reason %q does not say %q", f.Reason, want)
		}
	}
	if took := f.At.Sub(opened); opened.IsZero() || took > 20*time.Second {
		t.Errorf("the gate opened at %s and failed %s later; the timeout is %s", opened, took, w.m.Plan.Options.GateTimeout)
	}
	w.untilPaused()
	if slices.Contains(w.m.Allowed(), ActKeepWaiting) {
		t.Errorf("an abort offers keep waiting: %v", w.m.Allowed())
	}
	n, _ := w.m.NodeByName("fw-b")
	if n.Service.NRestarts < 2 || n.Service.At.IsZero() {
		t.Errorf("the node keeps no unit reading: %+v", n.Service)
	}
}

// A unit that is not running after the start (it exited cleanly, or
// failed for good) fails the gate at the first reading.
func TestMachineInactiveUnitFailsTheGateAtOnce(t *testing.T) {
	w := longGateWorld(t)
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { return w.m.Gate.Open && w.m.Gate.Step == "upgrade/fw-b" && w.m.Gate.Name == "stabilise" })
	opened := w.m.Gate.Opened()
	w.units["fw-b"] = health.Unit{ActiveState: "failed", SubState: "failed", NRestarts: 0}
	w.runUntil(func() bool { return w.m.Failure != nil })
	f := w.m.Failure
	if f.Kind != FailAbort || f.Node != "fw-b" || !strings.Contains(f.Reason, "fw-b: neuwerk.service is failed/failed") {
		t.Fatalf("failure %+v", f)
	}
	if took := f.At.Sub(opened); took > 5*time.Second {
		t.Errorf("failed %s after the gate opened", took)
	}
}

// While a restart gate is open the machine reads its node's files every
// gateReread, only that node's, one read at a time; a slow node still has
// the whole timeout.
func TestMachineGateRereadsItsNode(t *testing.T) {
	w := longGateWorld(t)
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { return w.m.Gate.Open && w.m.Gate.Step == "upgrade/fw-b" && w.m.Gate.Name == "stabilise" })
	mark := len(w.effects)
	// A slow start: systemd has not got it running yet.
	w.units["fw-b"] = health.Unit{ActiveState: "activating", SubState: "start"}

	// Hold every read unanswered (the gate's first is queued): no second
	// one is launched meanwhile.
	var held []Effect
	for i := 0; i < 10; i++ {
		var keep []Effect
		for _, e := range w.queue {
			if _, ok := e.(ReadNodeFiles); ok {
				held = append(held, e)
				continue
			}
			keep = append(keep, e)
		}
		w.queue = keep
		w.step()
	}
	if reads := mtOfKind[ReadNodeFiles](w.effects[mark:]); len(held) != 1 || len(reads) != 0 {
		t.Fatalf("%d reads launched with one in flight (%d held)", len(reads), len(held))
	}
	// Answered, the next comes gateReread after the one before.
	w.send(w.answer(held[0]))
	var at []time.Time
	for i := 0; i < 200 && w.m.Failure == nil && len(at) < 5; i++ {
		n := len(w.effects)
		w.step()
		for _, e := range w.effects[n:] {
			if r, ok := e.(ReadNodeFiles); ok {
				if !slices.Equal(r.Nodes, []string{"fw-b"}) || r.Step != "upgrade/fw-b" {
					t.Fatalf("a gate read of %v for %s", r.Nodes, r.Step)
				}
				at = append(at, w.now)
			}
		}
	}
	if len(at) < 5 {
		t.Fatalf("%d reads while the gate was open (failure %+v)", len(at), w.m.Failure)
	}
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < gateReread || d > gateReread+time.Second {
			t.Errorf("reads %s apart, want every %s: %v", d, gateReread, at)
		}
	}
	if w.m.Failure != nil || !w.m.Gate.Open {
		t.Fatalf("a slow start failed the gate before its timeout: %+v", w.m.Failure)
	}
	// Alive at last, the gate passes and the reads stop.
	delete(w.units, "fw-b")
	w.runUntil(func() bool { s, _ := w.m.StepByID("upgrade/fw-b"); return s.Status == StatusDone })
	mark = len(w.effects)
	w.runUntil(func() bool { return w.m.Gate.Open && w.m.Gate.Step == "upgrade/fw-c" && w.m.Gate.Name != "stabilise" })
	for _, r := range mtOfKind[ReadNodeFiles](w.effects[mark:]) {
		if slices.Contains(r.Nodes, "fw-b") {
			t.Errorf("fw-b read again after its gate passed: %+v", r)
		}
	}
}
