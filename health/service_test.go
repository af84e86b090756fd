package health

import (
	"strings"
	"testing"
	"time"
)

var svcNode = NodeRef{Name: "fw-b", ID: "1007919"}

// svcAt is a sample sec seconds after t0 with fw-b's unit read then.
func svcAt(t *testing.T, sec float64, active, sub string, restarts int) Sample {
	s := at(t, sec)
	s.Services = map[string]Service{"fw-b": {Unit: Unit{ActiveState: active, SubState: sub, NRestarts: restarts}, At: s.Snap.TakenAt}}
	return s
}

func judgeService(t *testing.T, c Check, s Sample) (Check, Verdict) {
	t.Helper()
	next, v := c.Judge(s)
	if v.Gate != GateServiceUp {
		t.Fatalf("verdict of %q", v.Gate)
	}
	if v.OK != (len(v.Reasons) == 0) {
		t.Fatalf("ok %v with reasons %q", v.OK, v.Reasons)
	}
	return next, v
}

func wantReason(t *testing.T, v Verdict, abort bool, parts ...string) {
	t.Helper()
	if v.OK || v.Abort != abort {
		t.Fatalf("verdict %+v: want a failure with abort %v", v, abort)
	}
	r := strings.Join(v.Reasons, "; ")
	for _, p := range append([]string{"fw-b: ", "neuwerk.service"}, parts...) {
		if !strings.Contains(r, p) {
			t.Errorf("reason %q does not say %q", r, p)
		}
	}
}

func newServiceUp() Check {
	return ServiceUp{Node: svcNode, Unit: "neuwerk.service", ReadSince: t0}
}

func TestServiceUpWaitsForAReadSinceTheStart(t *testing.T) {
	c := newServiceUp()
	_, v := judgeService(t, c, at(t, 1))
	wantReason(t, v, false, "not read since the start yet")
	// A reading from before the start says nothing about the new process.
	old := svcAt(t, 1, "failed", "failed", 0)
	old.Services["fw-b"] = Service{Unit: old.Services["fw-b"].Unit, At: t0.Add(-time.Second)}
	_, v = judgeService(t, c, old)
	wantReason(t, v, false, "not read since the start yet")
}

func TestServiceUpHoldsWhileActive(t *testing.T) {
	c, v := judgeService(t, newServiceUp(), svcAt(t, 1, "active", "running", 4))
	if !v.OK {
		t.Fatalf("an active unit fails: %v", v)
	}
	// One restart since the first reading, running again: it holds (the
	// other checks judge the new process); the count is recorded.
	_, v = judgeService(t, c, svcAt(t, 6, "active", "running", 5))
	if !v.OK {
		t.Fatalf("an active unit restarted once fails: %v", v)
	}
	if got, _ := v.Value("restarts"); got != "1" {
		t.Errorf("restarts %q, want 1 (since the first reading, not systemd's 5)", got)
	}
	if got, _ := v.Value("state"); got != "active/running" {
		t.Errorf("state %q", got)
	}
}

func TestServiceUpAbortsOnAFailedOrInactiveUnit(t *testing.T) {
	for _, tc := range []struct{ active, sub string }{{"failed", "failed"}, {"inactive", "dead"}} {
		_, v := judgeService(t, newServiceUp(), svcAt(t, 1, tc.active, tc.sub, 0))
		wantReason(t, v, true, "is "+tc.active+"/"+tc.sub, "restarted 0 times", "not running")
	}
}

func TestServiceUpWaitsWhileSystemdRestartsIt(t *testing.T) {
	c, v := judgeService(t, newServiceUp(), svcAt(t, 1, "active", "running", 0))
	if !v.OK {
		t.Fatal(v)
	}
	// systemd's restart wait (RestartSec) is activating/auto-restart: not
	// an abort on its own; the gate keeps waiting.
	_, v = judgeService(t, c, svcAt(t, 4, "activating", "auto-restart", 0))
	wantReason(t, v, false, "is activating/auto-restart", "restarted 0 times")
	_, v = judgeService(t, c, svcAt(t, 9, "activating", "auto-restart", 1))
	wantReason(t, v, false, "is activating/auto-restart", "restarted once")
}

func TestServiceUpAbortsOnACrashLoop(t *testing.T) {
	// The first reading is the reference: systemd's count before it
	// (restarts of an older process) does not count.
	c, v := judgeService(t, newServiceUp(), svcAt(t, 1, "active", "running", 3))
	if !v.OK {
		t.Fatal(v)
	}
	c, v = judgeService(t, c, svcAt(t, 6, "activating", "auto-restart", 4))
	wantReason(t, v, false, "restarted once")
	_, v = judgeService(t, c, svcAt(t, 11, "activating", "auto-restart", 5))
	wantReason(t, v, true, "fw-b: neuwerk.service restarted 2 times since the start (activating/auto-restart): it is crash-looping")
	// Running at the moment of the reading does not hide the restarts.
	_, v = judgeService(t, c, svcAt(t, 11, "active", "running", 5))
	wantReason(t, v, true, "restarted 2 times since the start (active/running)")
}

func TestServiceUpTakesANewReferenceWhenTheCountFalls(t *testing.T) {
	c, _ := judgeService(t, newServiceUp(), svcAt(t, 1, "active", "running", 7))
	// Started by hand: systemd counts from 0 again.
	c, v := judgeService(t, c, svcAt(t, 2, "active", "running", 0))
	if !v.OK {
		t.Fatal(v)
	}
	_, v = judgeService(t, c, svcAt(t, 7, "activating", "auto-restart", 1))
	wantReason(t, v, false, "restarted once")
}

// In a gate, a crash loop ends it at once with its reason; a unit that
// is slow but alive still has the gate's timeout.
func TestServiceUpInAGate(t *testing.T) {
	g := Gate{Name: "stabilise", Checks: []Check{newServiceUp()}, Hold: 5 * time.Second, Timeout: 2 * time.Minute}.Open(t0, t0)
	g = g.Observe(svcAt(t, 1, "active", "running", 0))
	g = g.Observe(svcAt(t, 6, "activating", "auto-restart", 1)).Tick(t0.Add(6 * time.Second))
	if g.Outcome() != Waiting {
		t.Fatalf("one restart: %v %s", g.Outcome(), g.Failure())
	}
	g = g.Observe(svcAt(t, 11, "activating", "auto-restart", 2))
	if g.Outcome() != Aborted || !strings.Contains(g.Failure(), "stabilise gate: abort condition: fw-b: neuwerk.service restarted 2 times") {
		t.Fatalf("crash loop: %v %q", g.Outcome(), g.Failure())
	}

	slow := Gate{Name: "stabilise", Checks: []Check{newServiceUp()}, Hold: 5 * time.Second, Timeout: 2 * time.Minute}.Open(t0, t0)
	for sec := 1.0; sec < 120; sec += 2 {
		slow = slow.Observe(svcAt(t, sec, "activating", "start", 0)).Tick(t0.Add(time.Duration(sec * float64(time.Second))))
	}
	if slow.Outcome() != Waiting {
		t.Fatalf("a unit still starting before the timeout: %v %s", slow.Outcome(), slow.Failure())
	}
	slow = slow.Tick(t0.Add(2*time.Minute + time.Second))
	if slow.Outcome() != TimedOut || !strings.Contains(slow.Failure(), "is activating/start") {
		t.Fatalf("at the timeout: %v %q", slow.Outcome(), slow.Failure())
	}
}

func TestServiceUpDescribe(t *testing.T) {
	d := newServiceUp().Describe()
	for _, p := range []string{"neuwerk.service", "fw-b", "active", "failed", "inactive", "2 restarts"} {
		if !strings.Contains(d, p) {
			t.Errorf("Describe %q does not say %q", d, p)
		}
	}
}
