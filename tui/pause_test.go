package tui

import (
	"strings"
	"testing"

	"github.com/nwroll/nwroll/rollout/runbook"
)

// --pause-before leader in the console: the pause is a step of the
// runbook pane, with its own dialog that waits for y, and y goes on to
// the leader's upgrade. fw-c's quiesced backup moves the leadership: the
// pause follows it.
func TestPauseIsAStepThatWaitsForY(t *testing.T) {
	o := quiescedOpts()
	o.PauseBefore = []string{runbook.PauseLeader}
	h := newHarness(t, 3, 2, o, 120, 40) // fw-c leads
	if s := h.screen(); !strings.Contains(s, "Pause before upgrading fw-c (leader) [approval]") {
		t.Fatalf("the runbook pane lacks the pause:\n%s", s)
	}
	h.approveUntil("the pause's dialog", awaiting(runbook.StepPauseLeader))
	h.arm()
	leader := h.m.machine.Leader
	if leader == "fw-c" || leader == "" {
		t.Fatalf("the leadership did not move (%q): the test no longer goes off-script", leader)
	}
	s := h.screen()
	for _, want := range []string{"Pause before upgrading " + leader + " (leader)", "hold the run here (--pause-before leader)", leader + " comes next", "y approve"} {
		if !strings.Contains(s, want) {
			t.Fatalf("the pause's dialog lacks %q:\n%s", want, s)
		}
	}
	for _, n := range []string{"fw-a", "fw-b", "fw-c"} {
		if b, _ := h.m.machine.StepByID(runbook.StepID("upgrade/" + n)); (b.Status == runbook.StatusDone) == (n == leader) {
			t.Fatalf("at the pause: upgrade/%s %s (leader %s)", n, b.Status, leader)
		}
	}
	h.readDialog()
	h.key("y")
	h.approveUntil("the leader's upgrade dialog", func(m Model) bool {
		s, ok := m.machine.AwaitingApproval()
		return ok && s.ID == runbook.StepID("upgrade/"+leader)
	})
	if p, _ := h.m.machine.StepByID("pause-before-leader"); p.Status != runbook.StatusDone || p.ApprovedBy != "op@test" {
		t.Fatalf("the pause: %s by %q", p.Status, p.ApprovedBy)
	}
}
