package tui

import (
	"fmt"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/rollouttest"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// Golden views of ansi.Strip(View()) at 80x24, 120x40 and 200x60 (update with
// go test ./tui/ -run TestGoldenViews -update). The fake cluster's clock
// makes every duration and age on screen the same on every run.

func inStabiliseGate(node string) func(Model) bool {
	return func(m Model) bool {
		s, ok := m.machine.Current()
		return ok && s.Kind == runbook.StepUpgrade && s.Node == node && m.machine.Gate.Open && m.machine.Gate.Name == "stabilise" &&
			!m.machine.Gate.HeldSince().IsZero()
	}
}

func withLogLines(h *harness) {
	var entries []rollout.LogEntry
	at := rollouttest.T0.Add(40 * time.Second)
	for i, op := range []string{"stop", "keep-prev", "swap", "start"} {
		entries = append(entries, rollout.LogEntry{TS: at.Add(time.Duration(i) * time.Second), Node: "fw-a", Type: "effect", Op: op, Status: "ok", Seconds: 0.4})
	}
	entries = append(entries, rollout.LogEntry{TS: at.Add(5 * time.Second), Node: "fw-a", Type: "gate", Op: "gate stabilise", Status: "waiting",
		Detail: "fw-a: /ready check dhcp_lease failing: no lease yet"})
	h.update(logMsg{entries: entries, from: h.m.eng})
}

func TestGoldenViews(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}, {200, 60}} {
		w, hgt := size[0], size[1]
		name := func(s string) string { return fmt.Sprintf("%s_%dx%d", s, w, hgt) }

		t.Run(name("main_mid_rollout"), func(t *testing.T) {
			h := newHarness(t, 3, 2, quiescedOpts(), w, hgt)
			h.approveUntil("fw-a's stabilise gate", inStabiliseGate("fw-a"))
			withLogLines(h)
			golden.RequireEqual(t, []byte(h.screen()))
		})
		t.Run(name("confirm_dialog"), func(t *testing.T) {
			h := newHarness(t, 3, 2, quiescedOpts(), w, hgt)
			h.approveUntil("the first upgrade dialog", awaiting(runbook.StepUpgrade))
			h.arm()
			golden.RequireEqual(t, []byte(h.screen()))
		})
		t.Run(name("confirm_dialog_scrolled"), func(t *testing.T) {
			// One page down: where the dialog is, and what is left below.
			h := newHarness(t, 3, 2, quiescedOpts(), w, hgt)
			h.approveUntil("the first upgrade dialog", awaiting(runbook.StepUpgrade))
			h.arm()
			h.key("pgdown")
			golden.RequireEqual(t, []byte(h.screen()))
		})
		t.Run(name("gate_failure"), func(t *testing.T) {
			h := newHarness(t, 3, 2, rollouttest.DefaultPlanOptions(), w, hgt)
			h.d.cluster(func(c *rollouttest.Cluster) { c.NeverReadyOn("fw-a") })
			h.approveUntil("the failure", pausedOnFailure)
			golden.RequireEqual(t, []byte(h.screen()))
		})
		t.Run(name("rollback_dialog"), func(t *testing.T) {
			// Its commands on the node, then what its approval also covers.
			h := newHarness(t, 3, 2, rollouttest.DefaultPlanOptions(), w, hgt)
			h.d.cluster(func(c *rollouttest.Cluster) { c.NeverReadyOn("fw-a") })
			h.approveUntil("the failure", pausedOnFailure)
			h.key("r")
			h.until("the rollback dialog", awaiting(runbook.StepRollback))
			h.arm()
			golden.RequireEqual(t, []byte(h.screen()))
		})
		t.Run(name("end_after_rollback"), func(t *testing.T) {
			// The release never turns ready (1.1.1-never-ready): the first
			// node fails its gate, r rolls it back, and the run ends.
			h := newHarness(t, 3, 2, rollouttest.DefaultPlanOptions(), w, hgt)
			h.d.cluster(func(c *rollouttest.Cluster) {
				for _, n := range c.Names() {
					c.NeverReadyOn(n)
				}
			})
			h.approveUntil("the failure", pausedOnFailure)
			h.key("r")
			h.approveUntil("the end", func(m Model) bool { return m.machine.Finished })
			golden.RequireEqual(t, []byte(h.screen()))
		})
		t.Run(name("node_detail"), func(t *testing.T) {
			// fw-a in its stabilise gate, its service log read.
			h := newHarness(t, 3, 2, quiescedOpts(), w, hgt)
			h.approveUntil("fw-a's stabilise gate", inStabiliseGate("fw-a"))
			h.key("enter")
			golden.RequireEqual(t, []byte(h.screen()))
		})
		t.Run(name("help"), func(t *testing.T) {
			h := newHarness(t, 3, 2, quiescedOpts(), w, hgt)
			h.key("?")
			golden.RequireEqual(t, []byte(h.screen()))
		})
	}
}
