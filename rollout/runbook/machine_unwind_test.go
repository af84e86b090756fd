package runbook

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A run that rolls back or aborts leaves every node clean and says so: the
// target it staged goes from the nodes that never got it in place (on the
// approval of that rollback or abort), the steps it will not run are
// skipped, the phases keep their order, and Summary says what each node
// is left with.

// mtUnstages are the unstage effects, as "unstage fw-a".
func mtUnstages(effs []Effect) []string {
	var out []string
	for _, a := range mtOfKind[NodeAction](effs) {
		if a.Op == OpUnstage {
			out = append(out, "unstage "+a.Node)
		}
	}
	return out
}

// mtStatuses is "id status (note)" for the steps named.
func mtStatuses(m Machine, ids ...StepID) []string {
	var out []string
	for _, id := range ids {
		s, _ := m.StepByID(id)
		out = append(out, fmt.Sprintf("%s %s (%s)", id, s.Status, s.Note))
	}
	return out
}

// mtPhases is the runbook's phases in the order its texts show them, one
// entry per run of steps of the same phase.
func mtPhases(m Machine) []Phase {
	var out []Phase
	for _, t := range m.Texts() {
		if len(out) == 0 || out[len(out)-1] != t.Phase {
			out = append(out, t.Phase)
		}
	}
	return out
}

// mtSummaryOf is the summary line of one node.
func mtSummaryOf(t *testing.T, m Machine, node string) string {
	t.Helper()
	for _, l := range m.Summary().Lines() {
		if strings.HasPrefix(l, node+": ") {
			return l
		}
	}
	t.Fatalf("no summary line for %s: %q", node, m.Summary().Lines())
	return ""
}

func TestMachineRollbackUnstagesTheOthers(t *testing.T) {
	// Leader fw-a: the order is fw-b, fw-c, fw-a; fw-b never turns ready.
	w := mtFailing(t, MachineOptions{Approver: "op@laptop"}, "fw-b")
	w.autoApprove = false
	mark := len(w.effects)
	w.send(RollbackNode{At: w.now})
	w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })

	// The dialog lists the rollback's commands, then what its approval
	// also covers: no more upgrades, and the staged target going.
	s, _ := w.m.AwaitingApproval()
	tx, _ := w.m.Text(s.ID)
	mtEqual(t, "the rollback dialog", tx.Does, []string{
		"stop neuwerk.service",
		"rename /opt/neuwerk/bin/neuwerk.prev over /opt/neuwerk/bin/neuwerk (atomic): back to 1.0.0",
		"start neuwerk.service",
		"then the rollout does not go on: the steps not run yet are skipped",
		"when the run ends, delete the staged 1.1.0 (.new, never put in place) from fw-a, fw-c: this approval covers it",
	})
	if s.ID != "rollback/fw-b" || tx.Node != "fw-b" {
		t.Fatalf("dialog of %s on %q", s.ID, tx.Node)
	}
	w.send(Approve{Step: s.ID, By: "op@laptop", At: w.now})
	w.runToEnd()

	mtEqual(t, "changes", w.changesSince(mark), []string{"stop fw-b", "rollback fw-b", "start fw-b", "unstage fw-a", "unstage fw-c", "unlock"})
	if w.m.ExitCode != ExitRolledBack {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	for _, a := range mtOfKind[NodeAction](w.effects[mark:]) {
		if a.Op == OpUnstage && (a.SHA256 != mtNewSHA || a.Step != "release") {
			t.Fatalf("unstage %s: sha256 %s, step %s: want the target's, in the release step", a.Node, a.SHA256[:4], a.Step)
		}
	}
	for _, n := range w.nodes {
		if n.bin != mtOldSHA || n.newBin != "" || !n.up {
			t.Fatalf("%s: binary %s, .new %q, up %v: want 1.0.0, no .new, up", n.name, n.bin[:4], n.newBin, n.up)
		}
	}

	// The journal: the rollback's approval covers the removal, each
	// removal has its intent (with the approver) and its outcome.
	var approval *Record
	for _, r := range mtOfKind[Record](w.effects[mark:]) {
		if r.Type == RecordApproval && r.Step == "release" {
			approval = &r
		}
	}
	if approval == nil || approval.By != "op@laptop" || approval.Detail != "remove the staged 1.1.0 from fw-a, fw-c: covered by the approval of rollback/fw-b" {
		t.Fatalf("release approval %+v", approval)
	}
	var intents, outcomes []string
	for _, r := range mtOfKind[Record](w.effects[mark:]) {
		if r.Op != "unstage" {
			continue
		}
		switch {
		case r.Type == RecordIntent && r.By == "op@laptop":
			intents = append(intents, r.Node)
		case r.Type == RecordOutcome && r.OK:
			outcomes = append(outcomes, r.Node)
		}
	}
	mtEqual(t, "unstage intents", intents, []string{"fw-a", "fw-c"})
	mtEqual(t, "unstage outcomes", outcomes, []string{"fw-a", "fw-c"})

	// The steps the run will not take are skipped, and journalled so.
	mtEqual(t, "steps", mtStatuses(w.m, "upgrade/fw-b", "upgrade/fw-c", "upgrade/fw-a", "validate", "rollback/fw-b", "release"), []string{
		"upgrade/fw-b rolled back ()",
		"upgrade/fw-c skipped (not run: the run rolled back)",
		"upgrade/fw-a skipped (not run: the run rolled back)",
		"validate skipped (not run: the run rolled back)",
		"rollback/fw-b done ()",
		"release done ()",
	})
	var skipped []string
	for _, r := range mtRecords(w.effects[mark:], "step-skipped") {
		skipped = append(skipped, string(r.Step)+": "+r.Detail)
	}
	mtEqual(t, "skipped in the journal", skipped, []string{
		"upgrade/fw-c: not run: the run rolled back", "upgrade/fw-a: not run: the run rolled back", "validate: not run: the run rolled back"})
	if tx, _ := w.m.Text("upgrade/fw-c"); tx.Skip != "not run: the run rolled back" || tx.Approval {
		t.Fatalf("skipped step text %+v", tx)
	}

	// The rollback comes after the steps it cut short, before the release.
	if got, want := mtPhases(w.m), []Phase{PhaseConnect, PhaseIdentify, PhasePreCheck, PhaseLock, PhaseStage, PhaseBackup,
		PhaseFollowers, PhaseLeader, PhaseValidate, PhaseRollback, PhaseRelease}; !slices.Equal(got, want) {
		t.Fatalf("phases %v, want %v", got, want)
	}
	rel, _ := w.m.Text("release")
	if rel.Title != "Remove the staged release and release the lock" ||
		rel.Does[0] != "remove /opt/neuwerk/bin/neuwerk.new (1.1.0, staged and never put in place) from fw-a, fw-c in parallel" {
		t.Fatalf("release text %q: %q", rel.Title, rel.Does)
	}

	// What each node is left with.
	lines := w.m.Summary().Lines()
	mtEqual(t, "summary", lines, []string{
		"fw-a: runs 1.0.0; nothing left staged; backup /var/backups/neuwerk/fw-a.tar.gz (set set-1)",
		"fw-b: runs 1.0.0; nothing left staged; backup /var/backups/neuwerk/fw-b.tar.gz (set set-1)",
		"fw-c: runs 1.0.0; nothing left staged; backup /var/backups/neuwerk/fw-c.tar.gz (set set-1)",
		"sysdumps: baseline " + w.m.Sysdumps[SysdumpBaseline] + "; failure " + w.m.Sysdumps[SysdumpFailure],
	})
	if !strings.HasPrefix(w.m.Sysdumps[SysdumpFailure], "sysdump-failure-") {
		t.Fatalf("sysdumps %v", w.m.Sysdumps)
	}
}

// Before the end, the summary says what is still staged; a failed removal
// leaves the file, says so, and still releases the lock.
func TestMachineUnstageFailureIsReported(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{Headless: true})
	w.badNew["fw-b"] = true
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { return w.m.Failure != nil })
	if got := mtSummaryOf(t, w.m, "fw-c"); got != "fw-c: runs 1.0.0; left staged: 1.1.0 in .new; backup /var/backups/neuwerk/fw-c.tar.gz (set set-1)" {
		t.Fatalf("fw-c before the end: %q", got)
	}
	w.failOn["unstage fw-c"] = fmt.Errorf("rm: read-only file system")
	w.runToEnd()
	if w.m.ExitCode != ExitRolledBack || w.m.LockHeld() {
		t.Fatalf("exit %d, lock held %v: %s", w.m.ExitCode, w.m.LockHeld(), w.m.Reason)
	}
	if w.node("fw-a").newBin != "" || w.node("fw-c").newBin != mtNewSHA {
		t.Fatalf(".new: fw-a %q fw-c %q", w.node("fw-a").newBin, w.node("fw-c").newBin)
	}
	if got := mtSummaryOf(t, w.m, "fw-c"); !strings.Contains(got, "left staged: 1.1.0 in .new") {
		t.Fatalf("fw-c after the failed removal: %q", got)
	}
	if r := mtRecords(w.effects, "unstage-failed"); len(r) != 1 || !strings.Contains(r[0].Detail, "fw-c: rm: read-only file system") {
		t.Fatalf("unstage-failed records %+v", r)
	}
	var by string
	for _, r := range mtOfKind[Record](w.effects) {
		if r.Type == RecordApproval && r.Step == "release" {
			by = r.By
		}
	}
	if by != "headless (--yes)" {
		t.Fatalf("release approved by %q, want the --yes approver of the rollback", by)
	}
}

func TestMachineAbortUnstagesTheOthers(t *testing.T) {
	// fw-b is upgraded, then fw-c never turns ready; the operator aborts.
	w := mtFailing(t, MachineOptions{Approver: "op@laptop"}, "fw-c")
	mark := len(w.effects)
	w.send(Abort{At: w.now})
	w.send(AbortConfirm{At: w.now})
	w.runToEnd()

	mtEqual(t, "changes", w.changesSince(mark), []string{"unstage fw-a", "unlock"})
	if w.m.ExitCode != ExitFailed || w.m.LockHeld() {
		t.Fatalf("exit %d lock %v: %s", w.m.ExitCode, w.m.LockHeld(), w.m.Reason)
	}
	if n := w.node("fw-a"); n.newBin != "" || n.bin != mtOldSHA {
		t.Fatalf("fw-a: .new %q, binary %s", n.newBin, n.bin[:4])
	}
	var approval string
	for _, r := range mtOfKind[Record](w.effects[mark:]) {
		if r.Type == RecordApproval {
			approval = r.By + ": " + r.Detail
		}
	}
	if approval != "op@laptop: remove the staged 1.1.0 from fw-a: covered by the confirmed abort" {
		t.Fatalf("approval %q", approval)
	}
	mtEqual(t, "steps", mtStatuses(w.m, "upgrade/fw-b", "upgrade/fw-c", "upgrade/fw-a", "validate", "release"), []string{
		"upgrade/fw-b done ()",
		"upgrade/fw-c failed ()",
		"upgrade/fw-a skipped (not run: the run was aborted)",
		"validate skipped (not run: the run was aborted)",
		"release done ()",
	})
	mtEqual(t, "summary", w.m.Summary().Lines()[:3], []string{
		"fw-a: runs 1.0.0; nothing left staged; backup /var/backups/neuwerk/fw-a.tar.gz (set set-1)",
		"fw-b: runs 1.1.0; nothing left staged; kept: 1.0.0 in .prev; backup /var/backups/neuwerk/fw-b.tar.gz (set set-1)",
		"fw-c: runs 1.1.0; nothing left staged; kept: 1.0.0 in .prev; backup /var/backups/neuwerk/fw-c.tar.gz (set set-1)",
	})
}

// An abort at an approval: the step never ran, so it is skipped, not
// failed, and every node's staged target goes.
func TestMachineAbortAtAnApproval(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{Approver: "op@laptop"})
	w.send(Begin{At: w.now})
	w.autoApprove = false
	w.runUntil(func() bool {
		if s, ok := w.m.AwaitingApproval(); ok {
			if s.Kind == StepUpgrade {
				return true
			}
			w.send(Approve{Step: s.ID, By: "op@laptop", At: w.now})
		}
		return false
	})
	mark := len(w.effects)
	w.send(Abort{At: w.now})
	w.send(AbortConfirm{At: w.now})
	w.runToEnd()
	mtEqual(t, "changes", w.changesSince(mark), []string{"unstage fw-a", "unstage fw-b", "unstage fw-c", "unlock"})
	mtEqual(t, "steps", mtStatuses(w.m, "upgrade/fw-b", "upgrade/fw-c", "upgrade/fw-a", "validate", "release"), []string{
		"upgrade/fw-b skipped (not run: the run was aborted)",
		"upgrade/fw-c skipped (not run: the run was aborted)",
		"upgrade/fw-a skipped (not run: the run was aborted)",
		"validate skipped (not run: the run was aborted)",
		"release done ()",
	})
	for _, n := range w.nodes {
		if n.newBin != "" || n.bin != mtOldSHA {
			t.Fatalf("%s: .new %q, binary %s", n.name, n.newBin, n.bin[:4])
		}
	}
}

// Quit keeps what a resume needs: the staged target and the lock; the
// steps left stay pending.
func TestMachineQuitKeepsTheStagedTarget(t *testing.T) {
	w := mtFailing(t, MachineOptions{Approver: "op@laptop"}, "fw-b")
	mark := len(w.effects)
	w.send(Quit{At: w.now})
	w.runToEnd()
	if got := mtUnstages(w.effects[mark:]); len(got) != 0 {
		t.Fatalf("quit removed staged files: %v", got)
	}
	if w.node("fw-a").newBin != mtNewSHA || !w.m.LockHeld() {
		t.Fatalf("fw-a .new %q, lock held %v", w.node("fw-a").newBin, w.m.LockHeld())
	}
	if s, _ := w.m.StepByID("upgrade/fw-c"); s.Status != StatusPending {
		t.Fatalf("upgrade/fw-c %s after a quit, want pending (resume runs it)", s.Status)
	}
}
