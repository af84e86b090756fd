package runbook

import (
	"slices"
	"strings"
	"testing"
)

func mtPauseOpts(pauses ...string) PlanOptions {
	o := mtOpts()
	o.PauseBefore = pauses
	return o
}

// mtDone are the steps the run's records show done, as the journal gives
// them to a resume.
func mtDone(effs []Effect) []StepID {
	var out []StepID
	for _, r := range mtRecords(effs, "step-done") {
		out = append(out, r.Step)
	}
	return out
}

// A --yes run stops before the leader's upgrade with exit 5, every node
// running and the lock kept; the resume goes on with the leader and does
// not pause again.
func TestPauseBeforeLeaderHeadless(t *testing.T) {
	o := mtPauseOpts(PauseLeader)
	w := newWorld(t, mtPlan(t, 3, 0, o), MachineOptions{Headless: true}) // order fw-b, fw-c, fw-a
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != ExitPaused {
		t.Fatalf("exit %d (%s), want %d", w.m.ExitCode, w.m.Reason, ExitPaused)
	}
	wantReason := "paused before upgrading fw-a (leader): `nwroll resume --yes` continues"
	if w.m.Reason != wantReason {
		t.Fatalf("reason %q\nwant   %q", w.m.Reason, wantReason)
	}
	mtEqual(t, "changes", mtChanges(w.effects), mtJoin(
		[]string{"lock", "stage fw-a", "stage fw-b", "stage fw-c", "backup fw-b", "backup fw-c", "backup fw-a"},
		mtUpgradeSeq("fw-b"), mtUpgradeSeq("fw-c")))
	if p := mtRecords(w.effects, "paused"); len(p) != 1 || p[0].Step != "pause-before-leader" || p[0].Node != "fw-a" {
		t.Fatalf("paused records %+v", p)
	}
	for _, n := range w.nodes {
		if !n.up {
			t.Fatalf("%s left down", n.name)
		}
	}
	if s, _ := w.m.StepByID("upgrade/fw-a"); s.Status != StatusPending {
		t.Fatalf("upgrade/fw-a %s, want pending", s.Status)
	}

	facts := ResumeFacts{Files: w.real(), LockHeld: true, UpgradeOrder: []string{"fw-b", "fw-c"}, DoneSteps: mtDone(w.effects)}
	m, err := ResumeState(w.replan(t, o), facts, MachineOptions{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	w.restart(m)
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != ExitOK {
		t.Fatalf("resumed: exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	mtEqual(t, "resumed changes", mtChanges(w.effects), mtJoin([]string{"lock"}, mtUpgradeSeq("fw-a"), []string{"unlock"}))
	if p := mtRecords(w.effects, "paused"); len(p) != 0 {
		t.Fatalf("the resumed run paused again: %+v", p)
	}
}

// The leader moves to a node not yet upgraded: the pause follows the
// leadership and holds the run before the new leader, now last.
func TestPauseFollowsTheLeader(t *testing.T) {
	for _, pause := range []string{PauseLeader, "fw-c"} {
		t.Run(pause, func(t *testing.T) {
			w := newWorld(t, mtPlan(t, 3, 0, mtPauseOpts(pause)), MachineOptions{Headless: true}) // fw-b, fw-c, fw-a
			w.send(Begin{At: w.now})
			w.runUntil(func() bool {
				s, ok := w.m.Current()
				return ok && s.ID == "upgrade/fw-b" && w.m.Gate.Name == "stabilise"
			})
			w.moveLeader("fw-c") // now fw-b, fw-a, fw-c
			w.runToEnd()
			if w.m.ExitCode != ExitPaused || !strings.Contains(w.m.Reason, "paused before upgrading fw-c (leader)") {
				t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
			}
			got := mtChanges(w.effects)
			mtEqual(t, "upgrades", got[7:], mtJoin(mtUpgradeSeq("fw-b"), mtUpgradeSeq("fw-a")))
			ids := stepIDs(w.m)
			if i := slices.Index(ids, StepID("upgrade/fw-c")); i < 1 || !strings.HasPrefix(string(ids[i-1]), "pause-before") {
				t.Fatalf("the pause is not right before fw-c's upgrade: %v", ids)
			}
		})
	}
}

func stepIDs(m Machine) []StepID {
	var out []StepID
	for _, s := range m.Steps {
		out = append(out, s.ID)
	}
	return out
}

// In the console the pause is a step that waits for y like any other;
// with both a node's pause and the leader's on the same node, the run
// holds there once.
func TestPauseInTheConsole(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtPauseOpts(PauseLeader, "fw-a")), MachineOptions{})
	w.autoApprove = false
	w.send(Begin{At: w.now})
	// approveUntil approves every dialog up to the one of step id.
	approveUntil := func(id StepID) {
		t.Helper()
		for {
			w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })
			s, _ := w.m.AwaitingApproval()
			if s.ID == id {
				return
			}
			if slices.Contains(pauseKinds, s.Kind) {
				t.Fatalf("dialog of %s before %s", s.ID, id)
			}
			w.send(Approve{Step: s.ID, By: "op", At: w.now})
		}
	}
	approveUntil("pause-before/fw-a")
	if b, _ := w.m.StepByID("upgrade/fw-c"); b.Status != StatusDone {
		t.Fatalf("the pause came before fw-c's upgrade (%s)", b.Status)
	}
	txt, _ := w.m.Text("pause-before/fw-a")
	if !txt.Approval || !txt.ReadOnly || txt.Phase != PhaseLeader || txt.Title != "Pause before upgrading fw-a (leader)" || txt.Does[0] != "hold the run here (--pause-before fw-a): upgrading fw-a comes next" {
		t.Fatalf("pause text %+v", txt)
	}
	if lt, _ := w.m.Text("pause-before-leader"); lt.Skip == "" {
		t.Fatalf("the leader's pause would hold the run a second time: %+v", lt)
	}
	w.send(Approve{Step: "pause-before/fw-a", By: "op", At: w.now})
	approveUntil("upgrade/fw-a")
	w.send(Approve{Step: "upgrade/fw-a", By: "op", At: w.now})
	w.runToEnd()
	if w.m.ExitCode != ExitOK {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	if s, _ := w.m.StepByID("pause-before-leader"); s.Status != StatusSkipped {
		t.Fatalf("pause-before-leader %s, want skipped", s.Status)
	}
}

// plan prints the pause where it holds the run, from its definition.
func TestPausePlanText(t *testing.T) {
	text := strings.Join(mtPlan(t, 3, 0, mtPauseOpts(PauseLeader)).Describe(), "\n")
	want := "Pause before upgrading fw-a (leader) [read-only, approval]\n" +
		"       - hold the run here (--pause-before leader): upgrading fw-a comes next\n" +
		"       - in the console: wait for y; with --yes: stop here, every node running and the lock kept, exit 5; `nwroll resume` goes on\n" +
		" 12. Upgrade fw-a (leader)"
	if !strings.Contains(text, want) {
		t.Fatalf("plan text lacks the pause:\n%s", text)
	}
}

// Cloud mode: the pause holds the run before the leader's replacement,
// the group back at its size and still frozen (the resume thaws it at its
// end, as after a quit).
func TestPauseBeforeLeaderCloud(t *testing.T) {
	p := mtCloudPlan(t, 3, 1) // i-0b leads
	p.Options.PauseBefore = []string{PauseLeader}
	p.Steps = withPauses(p.Steps, p.Options.PauseBefore)
	w := newCloudWorld(t, p, MachineOptions{Headless: true, Approver: "ci@runner"})
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != ExitPaused || w.m.Reason != "paused before replacing i-0b (leader): `nwroll resume --yes` continues" {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	mtEqual(t, "provider calls", w.cloud.calls, []string{
		"describe", "new-template", "set-template", "freeze",
		"surge 4", "retire i-0a",
		"surge 4", "retire i-0c"})
	if g := w.cloud.group; g.Desired != 3 || len(g.Instances) != 3 || !slices.Contains(g.Suspended, "AZRebalance") {
		t.Fatalf("group at the pause: desired %d, %d instances, suspended %v", g.Desired, len(g.Instances), g.Suspended)
	}
	txt, _ := w.m.Text("pause-before-leader")
	if want := "while the run waits, Auto Scaling group nw-asg's suspended processes stay as the prepare left them, until the run goes on or is rolled back"; !slices.Contains(txt.Does, want) {
		t.Fatalf("the pause does not say the group stays frozen: %q", txt.Does)
	}
}

// At a pause the operator may undo the run instead: the rollback takes the
// held lock back, rolls back the upgraded nodes newest first, leaves the
// leader (never upgraded) alone, and no pause holds it.
func TestPauseThenRollback(t *testing.T) {
	o := mtPauseOpts(PauseLeader)
	w := newWorld(t, mtPlan(t, 3, 0, o), MachineOptions{Headless: true}) // order fw-b, fw-c, fw-a
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != ExitPaused {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	facts := ResumeFacts{Files: w.real(), LockHeld: true, UpgradeOrder: []string{"fw-b", "fw-c"}, DoneSteps: mtDone(w.effects)}
	m, err := RollbackState(w.replan(t, o), facts, MachineOptions{Headless: true}, RollbackScope{})
	if err != nil {
		t.Fatal(err)
	}
	w.restart(m)
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != ExitOK {
		t.Fatalf("rollback: exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	mtEqual(t, "rollback changes", mtChanges(w.effects), []string{"lock", "stop fw-c", "rollback fw-c", "start fw-c", "stop fw-b", "rollback fw-b", "start fw-b", "unstage fw-a", "unlock"})
	if p := mtRecords(w.effects, "paused"); len(p) != 0 {
		t.Fatalf("the rollback paused: %+v", p)
	}
	for _, n := range w.nodes {
		if n.bin != mtOldSHA || !n.up {
			t.Errorf("%s: bin %s up %v after the rollback", n.name, n.bin[:4], n.up)
		}
	}
}
