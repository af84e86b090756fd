package tui

import (
	"strings"
	"testing"

	"github.com/nwroll/nwroll/rollout/rollouttest"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// enter on a node opens its detail, drawn from the machine: every /ready
// check, its raft view, the abort counters against the baseline, its
// binary with .new and .prev, and its service log read over SSH; esc goes
// back to the table. While it is open no key acts on a dialog out of sight.
func TestNodeDetail(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.approveUntil("fw-a's stabilise gate", inStabiliseGate("fw-a"))
	h.key("j")
	h.key("j")
	h.key("enter")
	if h.m.detail.Node() != "fw-c" {
		t.Fatalf("enter on the third row opened %q, want fw-c", h.m.detail.Node())
	}
	scr := h.screen()
	h.key("G") // the service log is at the end
	scr += h.screen()
	for _, want := range []string{"Node fw-c", "role follower", "✓ dataplane_running", "✓ policy_replication",
		"stats row: role follower, matched_index", "/metrics: term 9", "svc_fail_closed_total", "(baseline 0, +0)",
		": 1.1.0 (sha256 b2b2", ".prev: 1.0.0 (what a rollback restores", "Last poll errors", "none",
		"Service log (journalctl -u neuwerk.service -n 50, read", "fw-c systemd[1]: Started neuwerk.service", "release=1.1.0"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the detail lacks %q:\n%s", want, scr)
		}
	}
	if strings.Contains(scr, "Runbook") {
		t.Errorf("the detail should take the body:\n%s", scr)
	}
	h.key("esc")
	if h.m.detail.Node() != "" || !strings.Contains(h.screen(), "Runbook") {
		t.Fatalf("esc should close the detail:\n%s", h.screen())
	}
}

// The failure dialog shows the failing node's last service log lines, and
// i opens that node's detail with the whole log.
func TestGateFailureShowsTheServiceLog(t *testing.T) {
	h := newHarness(t, 3, 2, rollouttest.DefaultPlanOptions(), 120, 40)
	h.d.cluster(func(c *rollouttest.Cluster) { c.NeverReadyOn("fw-a") })
	h.approveUntil("the failure", pausedOnFailure)
	h.pump()
	h.key("G")                                                                           // the log lines are at the dialog's end
	scr := strings.Join(strings.Fields(strings.Join(dialogLines(h.screen()), " ")), " ") // unwrapped
	for _, want := range []string{"fw-a's service log, its last", "Started neuwerk.service", "policy replication not caught up: waiting"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the failure dialog lacks %q:\n%s", want, scr)
		}
	}
	h.key("i")
	if h.m.detail.Node() != "fw-a" {
		t.Fatalf("i on the failure opened %q, want the failing fw-a", h.m.detail.Node())
	}
	scr = h.screen()
	h.key("G")
	if scr += h.screen(); !strings.Contains(scr, "✗ policy_replication") || !strings.Contains(scr, "Stopping neuwerk.service") {
		t.Errorf("fw-a's detail should show its failing check and its whole log:\n%s", scr)
	}
	h.key("y")
	if h.m.machine.Pause == nil {
		t.Errorf("a key in the detail acted on the failure dialog out of sight")
	}
}

// A question that comes up while a node's detail is open closes the
// detail: an approval or a failure is never out of sight.
func TestDetailClosesForANewQuestion(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.approveUntil("the first backup dialog", awaiting(runbook.StepBackup))
	first, _ := h.m.machine.AwaitingApproval()
	h.arm()
	h.key("y")
	h.key("enter")
	if h.m.detail.Node() == "" {
		t.Fatalf("enter on the table did not open the detail")
	}
	h.until("the next approval", func(m Model) bool { s, ok := m.machine.AwaitingApproval(); return ok && s.ID != first.ID })
	if h.m.detail.Node() != "" || !strings.Contains(h.screen(), "Approve step") {
		t.Fatalf("the new approval is out of sight behind the detail:\n%s", h.screen())
	}
}

// q in a node's detail mid-rollout closes the detail and asks the quit
// question in sight; n stays, and nothing about the run changed.
func TestQuitFromTheDetailAsksInSight(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 80, 24)
	h.approveUntil("fw-a's stabilise gate", inStabiliseGate("fw-a"))
	h.key("i")
	if h.m.detail.Node() == "" {
		t.Fatalf("i did not open a detail")
	}
	h.key("q")
	if h.m.detail.Node() != "" || !h.m.dialog.askQuit || !strings.Contains(h.screen(), "Quit in the middle of the rollout?") {
		t.Fatalf("q in the detail should close it and ask to quit in sight:\n%s", h.screen())
	}
	h.key("n")
	if h.m.dialog.askQuit || h.m.quitting {
		t.Fatalf("n should keep the run going")
	}
}
