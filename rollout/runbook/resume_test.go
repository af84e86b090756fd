package runbook

import (
	"strings"
	"testing"
)

// real reads the world's nodes as ReadNodeFiles would.
func (w *mtWorld) real() []NodeFiles {
	var out []NodeFiles
	for _, n := range w.nodes {
		out = append(out, NodeFiles{Node: n.name, SHA256: n.bin, NewPresent: n.newBin != "", NewSHA256: n.newBin,
			PrevPresent: n.prevBin != "", PrevSHA256: n.prevBin, Active: n.up})
	}
	return out
}

// replan builds the plan a resumed run would build: current builds and
// the leader as the cluster shows them now.
func (w *mtWorld) replan(t testing.TB, o PlanOptions) Plan {
	t.Helper()
	in := PlanInput{Cluster: "lab", Target: mtNew, Known: []BuildRef{mtOld, mtNew}, Options: o}
	for _, n := range w.nodes {
		cur := mtOld
		if n.bin == mtNewSHA {
			cur = mtNew
		}
		in.Nodes = append(in.Nodes, PlanNode{Name: n.name, NodeID: n.id, Voter: n.voter, Leader: n.name == w.leader, Current: cur})
	}
	p, err := BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// restart gives the world a new machine, as a new process would.
func (w *mtWorld) restart(m Machine) {
	w.m, w.queue = m, nil
	w.effects, w.batches = nil, nil
}

func TestResumeFromMidPoints(t *testing.T) {
	cases := []struct {
		name  string
		setup func(w *mtWorld) ResumeFacts
		want  []string // node changes of the resumed run
	}{
		{
			name: "killed during staging",
			setup: func(w *mtWorld) ResumeFacts {
				w.node("fw-a").newBin = mtNewSHA
				return ResumeFacts{LockHeld: true, DoneSteps: []StepID{"connect", "identify", "precheck", "lock"}}
			},
			want: mtJoin([]string{"lock", "stage fw-b", "stage fw-c", "backup fw-b", "backup fw-c", "backup fw-a"},
				mtUpgradeSeq("fw-b"), mtUpgradeSeq("fw-c"), mtUpgradeSeq("fw-a"), []string{"unlock"}),
		},
		{
			name: "killed between swap and start",
			setup: func(w *mtWorld) ResumeFacts {
				for _, n := range w.nodes {
					n.newBin = mtNewSHA
				}
				b := w.node("fw-b")
				b.up, b.bin, b.prevBin, b.newBin = false, mtNewSHA, mtOldSHA, ""
				return ResumeFacts{LockHeld: true, UpgradeOrder: []string{"fw-b"},
					DoneSteps: []StepID{"lock", "stage", "backup/fw-b", "backup/fw-c", "backup/fw-a"}}
			},
			want: mtJoin([]string{"lock", "start fw-b"}, mtUpgradeSeq("fw-c"), mtUpgradeSeq("fw-a"), []string{"unlock"}),
		},
		{
			name: "killed between keep-prev and swap",
			setup: func(w *mtWorld) ResumeFacts {
				for _, n := range w.nodes {
					n.newBin = mtNewSHA
				}
				b := w.node("fw-b")
				b.up, b.prevBin = false, mtOldSHA
				return ResumeFacts{LockHeld: true, DoneSteps: []StepID{"lock", "stage", "backup/fw-b", "backup/fw-c", "backup/fw-a"}}
			},
			want: mtJoin([]string{"lock", "start fw-b"}, mtUpgradeSeq("fw-b"), mtUpgradeSeq("fw-c"), mtUpgradeSeq("fw-a"), []string{"unlock"}),
		},
		{
			name: "killed during a gate wait",
			setup: func(w *mtWorld) ResumeFacts {
				for _, n := range w.nodes {
					n.newBin = mtNewSHA
				}
				b := w.node("fw-b")
				b.bin, b.prevBin, b.newBin = mtNewSHA, mtOldSHA, ""
				return ResumeFacts{LockHeld: true, UpgradeOrder: []string{"fw-b"},
					DoneSteps: []StepID{"lock", "stage", "backup/fw-b", "backup/fw-c", "backup/fw-a"}}
			},
			want: mtJoin([]string{"lock"}, mtUpgradeSeq("fw-c"), mtUpgradeSeq("fw-a"), []string{"unlock"}),
		},
		{
			name: "killed before validation",
			setup: func(w *mtWorld) ResumeFacts {
				for _, n := range w.nodes {
					n.bin, n.prevBin = mtNewSHA, mtOldSHA
				}
				return ResumeFacts{LockHeld: true, UpgradeOrder: []string{"fw-b", "fw-c", "fw-a"},
					DoneSteps: []StepID{"lock", "stage", "backup/fw-b", "backup/fw-c", "backup/fw-a", "upgrade/fw-b", "upgrade/fw-c", "upgrade/fw-a"}}
			},
			want: []string{"lock", "unlock"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
			facts := tc.setup(w)
			facts.Files = w.real()
			m, err := ResumeState(w.replan(t, mtOpts()), facts, MachineOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w.restart(m)
			w.send(Begin{At: w.now})
			w.runToEnd()
			if w.m.ExitCode != 0 {
				t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
			}
			mtEqual(t, "resumed changes", mtChanges(w.effects), tc.want)
			if l := mtOfKind[LockNodes](w.effects); len(l) != 1 || !l[0].Resume {
				t.Fatalf("lock effects %+v, want one takeover", l)
			}
			for _, n := range w.nodes {
				if n.bin != mtNewSHA || n.prevBin != mtOldSHA || !n.up {
					t.Fatalf("%s: bin %s prev %s up %v", n.name, n.bin[:4], n.prevBin, n.up)
				}
			}
			if w.maxDown > 1 {
				t.Fatalf("max down %d", w.maxDown)
			}
		})
	}
}

func TestResumeRefusals(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.node("fw-c").bin = strings.Repeat("ee", 32)
	files := w.real()
	_, err := ResumeState(w.replan(t, mtOpts()), ResumeFacts{Files: files}, MachineOptions{})
	if err == nil || !strings.Contains(err.Error(), "fw-c: binary sha256 eeeeeeeeeeee matches no known release") {
		t.Fatalf("err %v", err)
	}
	// A build the journal identified before is known to resume.
	_, err = ResumeState(w.replan(t, mtOpts()), ResumeFacts{Files: files, Builds: []BuildRef{{SHA256: strings.Repeat("ee", 32)}}}, MachineOptions{})
	if err != nil {
		t.Fatalf("with the journal's build: %v", err)
	}
	_, err = ResumeState(w.replan(t, mtOpts()), ResumeFacts{Files: files[:2], Builds: []BuildRef{{SHA256: strings.Repeat("ee", 32)}}}, MachineOptions{})
	if err == nil || !strings.Contains(err.Error(), "fw-c: its real state was not read") {
		t.Fatalf("missing node: %v", err)
	}
	// Rolling back a node whose .prev is gone.
	w2 := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w2.node("fw-b").bin = mtNewSHA
	_, err = RollbackState(w2.replan(t, mtOpts()), ResumeFacts{Files: w2.real(), UpgradeOrder: []string{"fw-b"}}, MachineOptions{}, RollbackScope{})
	if err == nil || !strings.Contains(err.Error(), "fw-b: runs 1.1.0 but /opt/neuwerk/bin/neuwerk.prev is missing") {
		t.Fatalf("rollback without .prev: %v", err)
	}
	// Nothing upgraded: nothing to roll back.
	w3 := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	if _, err := RollbackState(w3.replan(t, mtOpts()), ResumeFacts{Files: w3.real()}, MachineOptions{}, RollbackScope{}); err == nil || !strings.Contains(err.Error(), "nothing to roll back") {
		t.Fatalf("empty rollback: %v", err)
	}
}

// `nwroll rollback` of a run that was already rolled back has nothing to
// roll back; it gates the node whose step was cut short and must not
// claim the target is in place.
func TestRollbackOfARolledBackRunTellsTheTruth(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{Headless: true})
	w.badNew["fw-b"] = true
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != ExitRolledBack {
		t.Fatalf("first run: exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	facts := ResumeFacts{Files: w.real(), Unfinished: []StepID{"upgrade/fw-b"}}
	m, err := RollbackState(w.replan(t, mtOpts()), facts, MachineOptions{Headless: true}, RollbackScope{})
	if err != nil {
		t.Fatal(err)
	}
	w.restart(m)
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != ExitOK || strings.Contains(w.m.Reason, "every node runs") || !strings.Contains(w.m.Reason, "1.0.0 on fw-a, fw-b, fw-c") {
		t.Fatalf("exit %d: %q", w.m.ExitCode, w.m.Reason)
	}
}

// One node rolled back alone keeps the reverse order of the upgrades:
// the newest upgrade may go alone, an older one only with OutOfOrder.
func TestRollbackOneNodeKeepsReverseOrder(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{Headless: true})
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != ExitOK {
		t.Fatalf("upgrade: exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	order := []string{"fw-b", "fw-c", "fw-a"} // followers first, the leader last
	facts := func() ResumeFacts { return ResumeFacts{Files: w.real(), UpgradeOrder: order} }

	_, err := RollbackState(w.replan(t, mtOpts()), facts(), MachineOptions{Headless: true}, RollbackScope{Node: "fw-c"})
	if err == nil || !strings.Contains(err.Error(), "fw-c was upgraded before fw-a") || !strings.Contains(err.Error(), "fw-a first") || !strings.Contains(err.Error(), "--out-of-order") {
		t.Fatalf("fw-c before fw-a: %v", err)
	}
	if _, err := RollbackState(w.replan(t, mtOpts()), facts(), MachineOptions{Headless: true}, RollbackScope{Node: "fw-z"}); err == nil || !strings.Contains(err.Error(), "fw-z is not a node") {
		t.Fatalf("unknown node: %v", err)
	}

	// The newest upgrade alone: only fw-a is touched.
	m, err := RollbackState(w.replan(t, mtOpts()), facts(), MachineOptions{Headless: true}, RollbackScope{Node: "fw-a"})
	if err != nil {
		t.Fatal(err)
	}
	w.restart(m)
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != ExitOK || strings.Join(w.m.RolledBack, ",") != "fw-a" {
		t.Fatalf("fw-a alone: exit %d, rolled back %v: %s", w.m.ExitCode, w.m.RolledBack, w.m.Reason)
	}
	for _, n := range w.nodes {
		if want := n.name != "fw-a"; (n.bin == mtNewSHA) != want {
			t.Errorf("%s on %s after rolling back fw-a alone", n.name, n.bin[:8])
		}
	}

	// fw-b, the oldest, out of order: allowed when asked for.
	order = []string{"fw-b", "fw-c"}
	if _, err := RollbackState(w.replan(t, mtOpts()), facts(), MachineOptions{Headless: true}, RollbackScope{Node: "fw-b"}); err == nil {
		t.Fatal("fw-b rolled back before fw-c without --out-of-order")
	}
	if _, err := RollbackState(w.replan(t, mtOpts()), facts(), MachineOptions{Headless: true}, RollbackScope{Node: "fw-a"}); err == nil || !strings.Contains(err.Error(), "was not upgraded by this rollout") {
		t.Fatalf("fw-a again: %v", err)
	}
	m, err = RollbackState(w.replan(t, mtOpts()), facts(), MachineOptions{Headless: true}, RollbackScope{Node: "fw-b", OutOfOrder: true})
	if err != nil {
		t.Fatal(err)
	}
	w.restart(m)
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != ExitOK || strings.Join(w.m.RolledBack, ",") != "fw-b" {
		t.Fatalf("fw-b out of order: exit %d, rolled back %v: %s", w.m.ExitCode, w.m.RolledBack, w.m.Reason)
	}
}

// A quit at the first dialog (the lock's) changed nothing: exit 0, and
// it says so. A quit once nodes changed (staged, at the first backup's
// dialog) is an interruption: exit 1, the lock kept for resume.
func TestQuitBeforeAnyNodeChanged(t *testing.T) {
	quiesced := mtOpts()
	quiesced.Backup = BackupQuiesced
	w := newWorld(t, mtPlan(t, 3, 0, quiesced), MachineOptions{Approver: "op"})
	w.autoApprove = false
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })
	if s, ok := w.m.AwaitingApproval(); !ok || s.Kind != StepLock {
		t.Fatalf("the first dialog is %q, want the lock's", s.ID)
	}
	w.send(ActionEvent(ActQuit, "", "op", w.now))
	w.runToEnd()
	if w.m.ExitCode != ExitOK || w.m.LockHeld() || !strings.Contains(w.m.Reason, "nothing changed on any node") {
		t.Fatalf("quit at the lock: exit %d, lock held %v: %q", w.m.ExitCode, w.m.LockHeld(), w.m.Reason)
	}

	w = newWorld(t, mtPlan(t, 3, 0, quiesced), MachineOptions{Approver: "op"})
	w.autoApprove = false
	w.send(Begin{At: w.now})
	w.runUntil(func() bool {
		s, ok := w.m.AwaitingApproval()
		if ok && s.Kind != StepBackup {
			w.send(Approve{Step: s.ID, By: "op", At: w.now})
		}
		return ok && s.Kind == StepBackup
	})
	w.send(ActionEvent(ActQuit, "", "op", w.now))
	w.runToEnd()
	if w.m.ExitCode != ExitFailed || !w.m.LockHeld() || strings.Contains(w.m.Reason, "nothing changed") {
		t.Fatalf("quit at a backup: exit %d, lock held %v: %q", w.m.ExitCode, w.m.LockHeld(), w.m.Reason)
	}
}

// `nwroll rollback` of a run killed after it took the lock and staged,
// before any node was upgraded: nothing to roll back, but the lock and
// the staged files go, and in the console that removal asks for its own
// approval (no rollback or abort approved it).
func TestRollbackOfARunThatOnlyStaged(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{Headless: true})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { s, ok := w.m.Current(); return ok && s.Kind == StepBackup })
	for _, f := range w.real() {
		if !f.NewPresent {
			t.Fatalf("%s has nothing staged at the backups", f.Node)
		}
	}
	facts := ResumeFacts{Files: w.real(), LockHeld: true}
	m, err := RollbackState(w.replan(t, mtOpts()), facts, MachineOptions{Approver: "op"}, RollbackScope{})
	if err != nil {
		t.Fatal(err)
	}
	w.restart(m)
	w.autoApprove = false
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })
	s, _ := w.m.AwaitingApproval()
	tx, _ := w.m.Text(s.ID)
	if s.Kind != StepRelease || !tx.Approval || tx.Title != "Remove the staged release and release the lock" ||
		len(tx.Does) == 0 || !strings.Contains(tx.Does[0], "from fw-a, fw-b, fw-c") || strings.Contains(strings.Join(tx.Does, "\n"), "covers it") {
		t.Fatalf("the release step asks %q (approval %v): %q", tx.Title, tx.Approval, tx.Does)
	}
	w.send(Approve{Step: s.ID, By: "op", At: w.now})
	w.runToEnd()
	mtEqual(t, "changes", w.changesSince(0), []string{"lock", "unstage fw-a", "unstage fw-b", "unstage fw-c", "unlock"})
	if w.m.ExitCode != ExitOK || !strings.HasPrefix(w.m.Reason, "rolled back: no node was left upgraded") {
		t.Fatalf("exit %d: %q", w.m.ExitCode, w.m.Reason)
	}
	for _, f := range w.real() {
		if f.NewPresent {
			t.Errorf("%s still has .new", f.Node)
		}
	}
}

// A kill cut a restart's chain short after its start ran: fw-b runs the
// target, but the journal has no outcome for its start. The resumed run
// starts it again (a no-op on a running node) so the journal knows it
// runs, gates it, and goes on.
func TestResumeStartsANodeWhoseStartWasCutShort(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{Headless: true})
	b := w.node("fw-b")
	b.prevBin, b.bin = b.bin, mtNewSHA
	w.node("fw-a").newBin, w.node("fw-c").newBin = mtNewSHA, mtNewSHA
	facts := ResumeFacts{Files: w.real(), LockHeld: true, UpgradeOrder: []string{"fw-b"}, StopStartCut: []string{"fw-b"},
		DoneSteps:  []StepID{"connect", "identify", "precheck", "lock", "stage", "backup/fw-b", "backup/fw-c", "backup/fw-a"},
		Unfinished: []StepID{"upgrade/fw-b"}}
	m, err := ResumeState(w.replan(t, mtOpts()), facts, MachineOptions{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := m.NodeByName("fw-b"); n.Down || !n.StartUnsure {
		t.Fatalf("fw-b: down %v, start unsure %v; want running and unsure", n.Down, n.StartUnsure)
	}
	w.restart(m)
	w.send(Begin{At: w.now})
	w.runToEnd()
	changes := mtChanges(w.effects)
	if w.m.ExitCode != ExitOK {
		t.Fatalf("exit %d: %s; changes %v", w.m.ExitCode, w.m.Reason, changes)
	}
	if len(changes) < 2 || changes[1] != "start fw-b" {
		t.Fatalf("the resumed run did not start fw-b first (after the lock): %v", changes)
	}
	if s, _ := w.m.StepByID(StepIDFor(StepRecover, "fw-b")); s.Status != StatusDone {
		t.Errorf("fw-b's recover step: %s", s.Status)
	}
}
