package runbook

import (
	"strings"
	"testing"
	"time"
)

func bakeOpts() PlanOptions {
	o := mtOpts()
	o.Bake = 20 * time.Second
	return o
}

// The bake follows the first upgrade, keeps every restart check on that
// node for the whole duration, and the rollout goes on.
func TestBakeHoldsThenTheRolloutGoesOn(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, bakeOpts()), MachineOptions{Headless: true})
	var ids []string
	for _, s := range w.m.Steps {
		ids = append(ids, string(s.ID))
	}
	mtEqual(t, "steps", ids[8:12], []string{"upgrade/fw-b", "bake", "upgrade/fw-c", "upgrade/fw-a"})
	if tx, _ := w.m.Text("bake"); tx.Title != "Bake fw-b on 1.1.0 for 20s (canary)" || tx.Gate == nil || !tx.Gate.Strict || tx.Gate.Hold != 20*time.Second || len(tx.Gate.Checks) != 7 {
		t.Fatalf("bake as planned: %+v %+v", tx, tx.Gate)
	}
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { return w.m.Gate.Open && w.m.Gate.Name == "bake" })
	if g := w.m.Gate; g.Node != "fw-b" || !g.Strict || g.Hold != 20*time.Second || len(g.Checks) != 7 {
		t.Fatalf("bake gate %+v", g)
	}
	w.runToEnd()
	if w.m.ExitCode != 0 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	s, _ := w.m.StepByID("bake")
	if s.Status != StatusDone || s.EndedAt.Sub(s.StartedAt) < 20*time.Second {
		t.Fatalf("bake %s after %s", s.Status, s.EndedAt.Sub(s.StartedAt))
	}
	if n, _ := w.m.NodeByName("fw-b"); n.Status != NodeUpgraded {
		t.Errorf("the canary reads %s after its bake", n.Status)
	}
	var order []string
	for _, c := range mtChanges(w.effects) {
		if strings.HasPrefix(c, "swap ") {
			order = append(order, c)
		}
	}
	mtEqual(t, "swaps", order, []string{"swap fw-b", "swap fw-c", "swap fw-a"})
}

// A check that breaks during the bake ends it at once: no waiting out the
// gate's timeout, the usual failure, and --yes rolls the canary back.
func TestBakeBreaksAtOnce(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, bakeOpts()), MachineOptions{Headless: true})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { return w.m.Gate.Open && w.m.Gate.Name == "bake" && !w.m.Gate.HeldSince().IsZero() })
	started := w.m.Gate.Opened()
	for i := 0; i < 5; i++ {
		w.step()
	}
	w.node("fw-b").neverReady = true
	w.runUntil(func() bool { return w.m.Failure != nil })
	f := w.m.Failure
	if f.Step != "bake" || f.Node != "fw-b" || f.Kind != FailBroken || !strings.HasPrefix(f.Reason, "bake gate broke after holding for") {
		t.Fatalf("failure %+v", f)
	}
	if f.At.Sub(started) >= 20*time.Second {
		t.Errorf("the bake failed after %s: it should end when the check breaks", f.At.Sub(started))
	}
	w.node("fw-b").neverReady = false
	w.runToEnd()
	if w.m.ExitCode != ExitRolledBack || strings.Join(w.m.RolledBack, ",") != "fw-b" {
		t.Fatalf("exit %d rolled back %v: %s", w.m.ExitCode, w.m.RolledBack, w.m.Reason)
	}
}

// Before any upgrade the canary is the node whose upgrade comes first; if
// that node becomes the leader (and so goes last), the canary follows.
func TestBakeCanaryFollowsTheOrder(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, bakeOpts()), MachineOptions{})
	if tx, _ := w.m.Text("bake"); tx.Node != "fw-b" {
		t.Fatalf("canary %q", tx.Node)
	}
	w.autoApprove = false
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { s, ok := w.m.AwaitingApproval(); return ok && s.ID == "lock" })
	w.moveLeader("fw-b")
	w.send(Approve{Step: "lock", By: "op@laptop", At: w.now})
	w.runUntil(func() bool { return w.m.Leader == "fw-b" })
	if tx, _ := w.m.Text("bake"); tx.Node != "fw-a" || !strings.HasPrefix(tx.Title, "Bake fw-a ") {
		t.Fatalf("after fw-b took the lead, the bake is %q on %q", tx.Title, tx.Node)
	}
}
