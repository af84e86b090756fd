package runbook

import (
	"strings"
	"testing"

	"github.com/nwroll/nwroll/health"
)

// What a dialog promises is what the machine then judges: for every step
// that opens an approval, the number of checks its text lists equals the
// number the machine evaluates after the start, and the election text
// appears exactly when the step stops the leader. The leader moves during
// the quiesced backup of the leader (fw-c → fw-b), so the upgrade steps'
// definitions change under them.
func TestDialogsPromiseWhatRuns(t *testing.T) {
	o := mtOpts()
	o.Backup = BackupQuiesced
	w := newWorld(t, mtPlan(t, 3, 2, o), MachineOptions{})
	w.autoApprove = false
	w.send(Begin{At: w.now})

	promised := map[StepID]StepText{}
	judged := map[StepID]int{}
	newLeader := ""
	for i := 0; i < 20000 && !w.m.Finished; i++ {
		if s, ok := w.m.AwaitingApproval(); ok {
			tx, _ := w.m.Text(s.ID)
			promised[s.ID] = tx
			if s.Kind == StepUpgrade && newLeader == "" {
				newLeader = w.m.Leader
			}
			w.send(Approve{Step: s.ID, By: "op@laptop", At: w.now})
			continue
		}
		if g := w.m.Gate; g.Open && g.Name == "stabilise" && len(g.Results()) > 0 {
			judged[g.Step] = len(g.Results())
		}
		w.step()
	}
	if w.m.ExitCode != 0 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	if newLeader == "" || newLeader == "fw-c" {
		t.Fatalf("the leader did not move during fw-c's backup (leader %q)", newLeader)
	}
	for id, tx := range promised {
		if tx.Gate == nil {
			continue
		}
		if judged[id] != len(tx.Gate.Checks) {
			t.Errorf("%s: the dialog promised %d checks, the machine judged %d", id, len(tx.Gate.Checks), judged[id])
		}
	}

	follower, leader := promised["upgrade/fw-c"], promised[StepIDFor(StepUpgrade, newLeader)]
	if follower.Title != "Upgrade fw-c (follower): 1.0.0 → 1.1.0" || follower.Phase != PhaseFollowers {
		t.Errorf("fw-c's dialog: %q in %s", follower.Title, follower.Phase)
	}
	if leader.Title != "Upgrade "+newLeader+" (leader): 1.0.0 → 1.1.0" || leader.Phase != PhaseLeader {
		t.Errorf("%s's dialog: %q in %s", newLeader, leader.Title, leader.Phase)
	}
	if last := w.m.Steps[len(w.m.Steps)-3]; last.ID != StepIDFor(StepUpgrade, newLeader) {
		t.Errorf("the last upgrade is %s, want the new leader's", last.ID)
	}
	mentionsElection := func(tx StepText) bool {
		return strings.Contains(strings.Join(append(append([]string(nil), tx.Does...), tx.Gate.Checks...), "\n"), "leader is elected")
	}
	if mentionsElection(follower) || len(follower.Gate.Checks) != 7 {
		t.Errorf("fw-c as a follower: election text %v, %d checks: %q", mentionsElection(follower), len(follower.Gate.Checks), follower.Gate.Checks)
	}
	if !mentionsElection(leader) || len(leader.Gate.Checks) != 9 || leader.Gate.Checks[0] != (health.NewLeaderElected{Election: o.ElectionWindow}).Describe() {
		t.Errorf("%s as the leader: election text %v, checks %q", newLeader, mentionsElection(leader), leader.Gate.Checks)
	}
	// A finished step reads as it ran.
	if done, _ := w.m.Text("upgrade/fw-c"); done.Title != follower.Title || len(done.Gate.Checks) != 7 {
		t.Errorf("fw-c's step after the run: %q, %d checks", done.Title, len(done.Gate.Checks))
	}
}

// The node of the step waiting for approval becomes the leader, and it is
// the last of its group: the dialog turns into the leader's, and the
// approval given to the follower's step does not carry over.
func TestApprovalIsForTheStepAsItStands(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.autoApprove = false
	w.send(Begin{At: w.now})
	approveUntil := func(id StepID) {
		t.Helper()
		for i := 0; i < 20000; i++ {
			if s, ok := w.m.AwaitingApproval(); ok {
				if s.ID == id {
					return
				}
				w.send(Approve{Step: s.ID, By: "op@laptop", At: w.now})
				continue
			}
			w.step()
		}
		t.Fatalf("never asked to approve %s", id)
	}
	approveUntil("upgrade/fw-c") // fw-b is done; fw-c is next, fw-a (the leader) last
	if tx, _ := w.m.Text("upgrade/fw-c"); !strings.Contains(tx.Title, "(follower)") || len(tx.Gate.Checks) != 7 {
		t.Fatalf("before the move: %q, %d checks", tx.Title, len(tx.Gate.Checks))
	}
	// fw-c takes over while its dialog is open: it now leads, but fw-a
	// is still pending, so fw-c goes last and fw-a comes first.
	w.moveLeader("fw-c")
	w.tick()
	w.send(Tick{Now: w.now})
	for i := 0; i < 50 && len(w.queue) > 0; i++ {
		e := w.queue[0]
		w.queue = w.queue[1:]
		w.send(w.answer(e))
	}
	s, ok := w.m.AwaitingApproval()
	if !ok || s.ID != "upgrade/fw-a" {
		t.Fatalf("after the move the dialog is %s (%v); want fw-a's, the new follower", s.ID, ok)
	}
	if tx, _ := w.m.Text("upgrade/fw-a"); !strings.Contains(tx.Title, "(follower)") || len(tx.Gate.Checks) != 7 {
		t.Errorf("fw-a's dialog: %q, %d checks", tx.Title, len(tx.Gate.Checks))
	}
	if tx, _ := w.m.Text("upgrade/fw-c"); !strings.Contains(tx.Title, "(leader)") || len(tx.Gate.Checks) != 9 || tx.Phase != PhaseLeader {
		t.Errorf("fw-c's pending step: %q, %d checks, %s", tx.Title, len(tx.Gate.Checks), tx.Phase)
	}
	// fw-a is approved and upgraded; now fw-c, the leader, asks afresh.
	w.send(Approve{Step: "upgrade/fw-a", By: "op@laptop", At: w.now})
	approveUntil("upgrade/fw-c")
	if s, _ := w.m.StepByID("upgrade/fw-c"); !s.ApprovedAt.IsZero() {
		t.Fatal("fw-c's approval as a follower carried over to the leader's step")
	}
	// The leader moves back to fw-a while fw-c's leader dialog is open:
	// fw-c is the last of its group, so the step is redefined as a
	// follower's in place and asks again.
	w.moveLeader("fw-a")
	for i := 0; i < 50; i++ {
		w.tick()
		w.send(Tick{Now: w.now})
		for len(w.queue) > 0 {
			e := w.queue[0]
			w.queue = w.queue[1:]
			w.send(w.answer(e))
		}
		if tx, _ := w.m.Text("upgrade/fw-c"); strings.Contains(tx.Title, "(follower)") {
			break
		}
	}
	s, ok = w.m.AwaitingApproval()
	tx, _ := w.m.Text("upgrade/fw-c")
	if !ok || s.ID != "upgrade/fw-c" || !strings.Contains(tx.Title, "(follower)") || len(tx.Gate.Checks) != 7 {
		t.Fatalf("dialog %s (%v): %q, %d checks", s.ID, ok, tx.Title, len(tx.Gate.Checks))
	}
	if len(mtRecords(w.effects, "redefined")) == 0 {
		t.Error("the journal does not say the step was redefined")
	}
}

// "It waits until last" is said of the steps that do wait (backups and
// upgrades), never of a rollback, which does not.
func TestOnlyLeaderLastStepsSayTheyWait(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.badNew["fw-b"] = true
	w.send(Begin{At: w.now})
	w.untilPaused()
	w.send(RollbackNode{At: w.now})
	w.runUntil(func() bool { s, ok := w.m.AwaitingApproval(); return ok && s.Kind == StepRollback })
	waits := func(tx StepText) bool { return strings.Contains(strings.Join(tx.Does, "\n"), "waits until last") }
	if rb, _ := w.m.Text("rollback/fw-b"); waits(rb) {
		t.Errorf("the rollback says it waits: %q", rb.Does)
	}
	if up, _ := w.m.Text("upgrade/fw-c"); !waits(up) {
		t.Errorf("an upgrade does not say it waits: %q", up.Does)
	}
	if bk, _ := w.m.Text("backup/fw-c"); !waits(bk) {
		t.Errorf("a backup does not say it waits: %q", bk.Does)
	}
}

// The node of an open rollback dialog becomes the leader: the rollback's
// restart gate is now a leader's (a new leader must be elected), so the
// dialog changes and asks again; the rollback still runs and ends.
func TestRollbackDialogFollowsTheLeader(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.badNew["fw-b"] = true
	w.send(Begin{At: w.now})
	w.untilPaused()
	w.send(RollbackNode{At: w.now})
	w.autoApprove = false
	w.runUntil(func() bool { s, ok := w.m.AwaitingApproval(); return ok && s.Kind == StepRollback })
	before, _ := w.m.Text("rollback/fw-b")
	if len(before.Gate.Checks) != 7 || strings.Contains(strings.Join(before.Gate.Checks, "\n"), "leader is elected") {
		t.Fatalf("rollback of a follower: %q", before.Gate.Checks)
	}
	seq := w.m.ApprovalSeq()
	w.moveLeader("fw-b")
	w.runUntil(func() bool { return w.m.ApprovalSeq() > seq })
	s, ok := w.m.AwaitingApproval()
	after, _ := w.m.Text("rollback/fw-b")
	if !ok || s.ID != "rollback/fw-b" || len(after.Gate.Checks) != 9 || !strings.Contains(after.Gate.Checks[0], "leader is elected") {
		t.Fatalf("after fw-b took the lead: dialog %s (%v), checks %q", s.ID, ok, after.Gate.Checks)
	}
	w.badNew["fw-b"] = false
	w.autoApprove = true
	w.runToEnd()
	if w.m.ExitCode != ExitRolledBack || strings.Join(w.m.RolledBack, ",") != "fw-b" {
		t.Fatalf("exit %d rolled back %v: %s", w.m.ExitCode, w.m.RolledBack, w.m.Reason)
	}
}
