package tui

import (
	"regexp"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/nwroll/nwroll/rollout/rollouttest"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The restart gate's checks (runbook's restartGate): a follower's seven
// (ready, stats caught up, applied, peer errors, binary, the service up,
// abort signals),
// and a leader's two more (a new leader elected, leadership steady).
const (
	followerChecks = 7
	leaderChecks   = followerChecks + 2
)

// dialogLines is the text inside the dialog's double border on screen.
func dialogLines(screen string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(screen, "\n") {
		switch {
		case strings.Contains(l, "╔"):
			in = true
		case strings.Contains(l, "╚"):
			in = false
		case in:
			if _, body, ok := strings.Cut(l, "║"); ok {
				body, _, _ = strings.Cut(body, "║")
				out = append(out, strings.TrimRight(body, " "))
			}
		}
	}
	return out
}

var checkItem = regexp.MustCompile(`^\s+· `)

// listedChecks counts the checks a dialog lists under its "Afterwards …"
// heading; -1 when it has no such heading.
func listedChecks(dialog []string) int {
	n := -1
	for _, l := range dialog {
		switch {
		case strings.HasPrefix(strings.TrimSpace(l), "Afterwards "):
			n = 0
		case n >= 0 && checkItem.MatchString(l):
			n++
		}
	}
	return n
}

// TestUpgradeDialogsAfterTheLeaderMoved: with quiesced backups, the
// leader's backup stops the leader and the cluster elects another node.
// The upgrade dialogs that follow describe each node by its role now: the
// old leader's is a follower's, the new leader's is the leader's, and each
// lists exactly the checks its stabilise gate then judges.
func TestUpgradeDialogsAfterTheLeaderMoved(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	oldLeader := rollouttest.NodeName(2)
	h.until("the first snapshot", func(m Model) bool { return m.machine.HaveSnapshot })
	if got := h.m.machine.Leader; got != oldLeader {
		t.Fatalf("the leader before the backups is %q, want %s", got, oldLeader)
	}
	h.approveUntil("the first upgrade dialog", awaiting(runbook.StepUpgrade))
	newLeader := h.m.machine.Leader
	if newLeader == "" || newLeader == oldLeader {
		t.Fatalf("the leader after %s's backup is %q: leadership did not move", oldLeader, newLeader)
	}

	// upgrade shows node's upgrade dialog, approves it, and returns the
	// dialog and the number of checks its stabilise gate judges.
	upgrade := func(node string) (screen string, dialog []string, judged int) {
		t.Helper()
		h.approveUntil(node+"'s upgrade dialog", func(m Model) bool {
			s, ok := m.machine.AwaitingApproval()
			return ok && s.Kind == runbook.StepUpgrade && s.Node == node
		})
		step, _ := h.m.machine.AwaitingApproval()
		h.arm()
		screen = h.screen()
		h.key("y")
		h.until(node+"'s stabilise gate", func(m Model) bool {
			g := m.machine.Gate
			return g.Open && g.Step == step.ID && g.Name == "stabilise" && len(g.Results()) > 0
		})
		return screen, dialogLines(screen), len(h.m.machine.Gate.Results())
	}
	oldScreen, oldDialog, oldJudged := upgrade(oldLeader)
	newScreen, newDialog, newJudged := upgrade(newLeader)

	for _, c := range []struct {
		node, role     string
		dialog         []string
		listed, judged int
		want           int
		election       bool // the dialog speaks of the election
	}{
		{oldLeader, "follower", oldDialog, listedChecks(oldDialog), oldJudged, followerChecks, false},
		{newLeader, "leader", newDialog, listedChecks(newDialog), newJudged, leaderChecks, true},
	} {
		text := strings.Join(c.dialog, "\n")
		if want := "Upgrade " + c.node + " (" + c.role + ")"; len(c.dialog) == 0 || !strings.Contains(c.dialog[0], want) {
			t.Errorf("%s's dialog should be titled %q:\n%s", c.node, want, text)
		}
		for _, election := range []string{"leader is elected", "502/503"} {
			if got := strings.Contains(text, election); got != c.election {
				t.Errorf("%s (%s): the dialog says %q: %v, want %v:\n%s", c.node, c.role, election, got, c.election, text)
			}
		}
		if c.listed != c.want {
			t.Errorf("%s (%s): the dialog lists %d checks under Afterwards, want %d:\n%s", c.node, c.role, c.listed, c.want, text)
		}
		if c.listed != c.judged {
			t.Errorf("%s (%s): the dialog lists %d checks, its stabilise gate judges %d", c.node, c.role, c.listed, c.judged)
		}
	}
	t.Run("old_leader_dialog_120x40", func(t *testing.T) { golden.RequireEqual(t, []byte(oldScreen)) })
	t.Run("new_leader_dialog_120x40", func(t *testing.T) { golden.RequireEqual(t, []byte(newScreen)) })
}

// The dialog's quorum line is the live quorum check: ✓ while stopping the
// node keeps quorum, ✗ with the reason once another voter goes down, and
// the arithmetic is said once, not again under a gate heading.
func TestApprovalQuorumLineIsLive(t *testing.T) {
	h := newHarness(t, 3, 0, rollouttest.DefaultPlanOptions(), 120, 40)
	h.approveUntil("fw-b's upgrade dialog", func(m Model) bool {
		s, ok := m.machine.AwaitingApproval()
		return ok && s.ID == "upgrade/fw-b"
	})
	h.tick()
	d := strings.Join(dialogLines(h.screen()), "\n")
	if !strings.Contains(d, "Quorum: ✓ stopping fw-b: voters up 3→2, quorum 2, failure tolerance 1→0") ||
		strings.Count(d, "voters up") != 1 || strings.Contains(d, "Gate quorum") {
		t.Fatalf("dialog while quorum holds:\n%s", d)
	}
	h.d.cluster(func(c *rollouttest.Cluster) { c.NotReady("fw-c") })
	h.tick()
	h.tick()
	d = strings.Join(dialogLines(h.screen()), "\n")
	if !strings.Contains(d, "Quorum: ✗ stopping fw-b: voters up 2→1, quorum 2: would lose quorum") || !strings.Contains(d, "another voter is already unhealthy: fw-c") {
		t.Fatalf("dialog with fw-c down:\n%s", d)
	}
}
