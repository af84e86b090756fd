package tui

import (
	"strings"
	"testing"

	"github.com/nwroll/nwroll/rollout/rollouttest"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// A node on a build that matches no release manifest gets its own dialog
// before the lock: the node, the short sha and the warning that a rollback
// restores that same build. y goes on; nothing changes before it.
func TestUnknownBuildDialogThenYProceeds(t *testing.T) {
	c := rollouttest.NewCluster(3, 2)
	c.SetBuild("fw-b", runbook.BuildRef{SHA256: strings.Repeat("e7", 32)})
	h := newHarnessOn(t, c, quiescedOpts(), 120, 40)
	mark := h.d.dispatched()
	h.until("the unknown-build dialog", awaiting(runbook.StepUnknownBuild))

	screen := h.screen()
	dialog := dialogText(screen)
	for _, want := range []string{
		"Approve step 3 of",
		"Accept fw-b's unknown build (sha256 e7e7e7e7e7e7)",
		"fw-b runs unknown (sha256 e7e7e7e7e7e7): its binary matches no release manifest",
		"a rollback of fw-b restores that same build",
	} {
		if !strings.Contains(dialog, want) {
			t.Errorf("the dialog does not say %q:\n%s", want, screen)
		}
	}
	if ch := changesSince(h, mark); len(ch) != 0 {
		t.Fatalf("nodes changed before the unknown build was accepted: %v", ch)
	}

	h.arm()
	h.key("y")
	s, _ := h.m.machine.StepByID("unknown-build")
	if s.Status != runbook.StatusDone || s.ApprovedBy != "op@test" {
		t.Fatalf("unknown-build after y: %s, approved by %q", s.Status, s.ApprovedBy)
	}
	h.until("the lock dialog", awaiting(runbook.StepLock))
	h.approveUntil("the end", func(m Model) bool { return m.machine.Finished })
	if h.m.machine.ExitCode != runbook.ExitOK {
		t.Fatalf("exit %d: %s", h.m.machine.ExitCode, h.m.machine.Reason)
	}
	var b rollouttest.Node
	h.d.cluster(func(c *rollouttest.Cluster) { b, _ = c.Node("fw-b") })
	if b.Binary != rollouttest.New || b.Prev.SHA256 != strings.Repeat("e7", 32) {
		t.Errorf("fw-b runs %s with .prev %s; want 1.1.0, and the hotfix as .prev", b.Binary.Label(), b.Prev.Label())
	}
}

// dialogText is the text inside the dialog's double border, its lines
// joined, so a sentence the dialog wrapped reads whole.
func dialogText(screen string) string {
	var parts []string
	for _, l := range strings.Split(screen, "\n") {
		first, last := strings.Index(l, "║"), strings.LastIndex(l, "║")
		if first >= 0 && last > first {
			parts = append(parts, strings.TrimSpace(l[first+len("║"):last]))
		}
	}
	return strings.Join(parts, " ")
}
