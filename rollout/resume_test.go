package rollout

import (
	"fmt"
	"slices"
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

func mtEntries(effs []Effect) []JournalEntry {
	var out []JournalEntry
	for _, r := range mtOfKind[Record](effs) {
		out = append(out, r.Entry())
	}
	return out
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
	_, err = RollbackState(w2.replan(t, mtOpts()), ResumeFacts{Files: w2.real(), UpgradeOrder: []string{"fw-b"}}, MachineOptions{})
	if err == nil || !strings.Contains(err.Error(), "fw-b: runs 1.1.0 but /opt/neuwerk/bin/neuwerk.prev is missing") {
		t.Fatalf("rollback without .prev: %v", err)
	}
	// Nothing upgraded: nothing to roll back.
	w3 := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	if _, err := RollbackState(w3.replan(t, mtOpts()), ResumeFacts{Files: w3.real()}, MachineOptions{}); err == nil || !strings.Contains(err.Error(), "nothing to roll back") {
		t.Fatalf("empty rollback: %v", err)
	}
}

// `nwroll rollback` after a full upgrade: reverse order, exit 0.
func TestRollbackStateAfterSuccess(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{Headless: true})
	w.send(Begin{At: w.now})
	w.runToEnd()
	facts := ResumeFactsFromJournal(mtEntries(w.effects), w.real())
	if !slices.Equal(facts.UpgradeOrder, []string{"fw-b", "fw-c", "fw-a"}) || facts.LockHeld || facts.RollingBack {
		t.Fatalf("facts %+v", facts)
	}
	m, err := RollbackState(w.replan(t, mtOpts()), facts, MachineOptions{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	w.restart(m)
	w.send(Begin{At: w.now})
	w.runToEnd()
	mtEqual(t, "rollback", mtChanges(w.effects), []string{"lock",
		"stop fw-a", "rollback fw-a", "start fw-a",
		"stop fw-c", "rollback fw-c", "start fw-c",
		"stop fw-b", "rollback fw-b", "start fw-b", "unlock"})
	if w.m.ExitCode != 0 || !slices.Equal(w.m.RolledBack, []string{"fw-a", "fw-c", "fw-b"}) {
		t.Fatalf("exit %d rolled back %v: %s", w.m.ExitCode, w.m.RolledBack, w.m.Reason)
	}
	if w.m.Reason != "rolled back: fw-a, fw-c, fw-b" {
		t.Errorf("finish reason %q must say what was rolled back, not claim the target", w.m.Reason)
	}
	for _, n := range w.nodes {
		if n.bin != mtOldSHA || !n.up {
			t.Fatalf("%s on %s", n.name, n.bin[:4])
		}
	}
}

// Killed in the middle of a --yes rollback: resume continues the rollback
// and ends with exit 4.
func TestResumeRollingBack(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{Headless: true})
	w.badNew["fw-c"] = true
	w.send(Begin{At: w.now})
	// Kill right after the rollback's stop of fw-c was performed.
	w.runUntil(func() bool {
		return len(w.queue) > 0 && w.queue[0].Kind() == "stop" && effectNode(w.queue[0]) == "fw-c" && w.m.rolling
	})
	w.answer(w.queue[0]) // performed, but the outcome never reached the journal
	facts := ResumeFactsFromJournal(mtEntries(w.effects), w.real())
	if !facts.RollingBack || !facts.LockHeld || !slices.Equal(facts.UpgradeOrder, []string{"fw-b", "fw-c"}) {
		t.Fatalf("facts %+v", facts)
	}
	m, err := ResumeState(w.replan(t, mtOpts()), facts, MachineOptions{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	w.badNew["fw-c"] = false
	w.restart(m)
	w.send(Begin{At: w.now})
	w.runToEnd()
	mtEqual(t, "resumed rollback", mtChanges(w.effects), []string{"lock",
		"rollback fw-c", "start fw-c",
		"stop fw-b", "rollback fw-b", "start fw-b", "unlock"})
	if w.m.ExitCode != 4 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
}

// Kill the run after every answered effect (and, separately, after an
// effect was performed but before its result arrived), then resume from
// the journal the machine wrote and the nodes' real state. Every resumed
// run finishes with every node on the target, .prev holding the old build,
// never a node on an unknown binary, never two nodes down.
func TestResumeAfterKillAnywhere(t *testing.T) {
	for _, backup := range []BackupMode{BackupLive, BackupQuiesced} {
		t.Run(backup.String(), func(t *testing.T) {
			o := mtOpts()
			o.Backup = backup
			mtKillAnywhere(t, o)
		})
	}
}

func mtKillAnywhere(t *testing.T, o PlanOptions) {
	ref := newWorld(t, mtPlan(t, 3, 0, o), MachineOptions{Headless: true})
	ref.send(Begin{At: ref.now})
	answered := 0
	for !ref.m.Finished {
		if len(ref.queue) > 0 {
			answered++
		}
		ref.step()
	}
	for k := 0; k <= answered; k++ {
		for _, lost := range []bool{false, true} {
			t.Run(fmt.Sprintf("after %d answers, outcome lost %v", k, lost), func(t *testing.T) {
				w := newWorld(t, mtPlan(t, 3, 0, o), MachineOptions{Headless: true})
				w.send(Begin{At: w.now})
				for n := 0; n < k && !w.m.Finished; {
					if len(w.queue) > 0 {
						n++
					}
					w.step()
				}
				if w.m.Finished {
					return
				}
				if lost && len(w.queue) > 0 {
					w.answer(w.queue[0])
				}
				for _, n := range w.nodes {
					if n.bin != mtOldSHA && n.bin != mtNewSHA {
						t.Fatalf("%s on an unknown binary after the kill", n.name)
					}
				}
				facts := ResumeFactsFromJournal(mtEntries(w.effects), w.real())
				m, err := ResumeState(w.replan(t, o), facts, MachineOptions{Headless: true})
				if err != nil {
					t.Fatal(err)
				}
				w.restart(m)
				w.send(Begin{At: w.now})
				w.runToEnd()
				if w.m.ExitCode != 0 {
					t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
				}
				for _, n := range w.nodes {
					if n.bin != mtNewSHA || n.prevBin != mtOldSHA || !n.up {
						t.Fatalf("%s: bin %s prev %q up %v", n.name, n.bin[:4], n.prevBin, n.up)
					}
				}
				if w.maxDown > 1 {
					t.Fatalf("max down %d", w.maxDown)
				}
			})
		}
	}
}

// The machine's records go through the real journal (Append, fsync,
// ReadJournal) and come back as the facts resume needs.
func TestResumeThroughRealJournal(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{Headless: true, Approver: "ci@runner"})
	w.send(Begin{At: w.now})
	// Kill between fw-c's swap and its start.
	w.runUntil(func() bool {
		return len(w.queue) > 0 && w.queue[0].Kind() == "start" && effectNode(w.queue[0]) == "fw-c"
	})
	j, err := OpenJournal(t.TempDir(), "lab")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mtOfKind[Record](w.effects) {
		if err := j.Append(r.Entry()); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := ReadJournal(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	facts := ResumeFactsFromJournal(entries, w.real())
	if !slices.Equal(facts.UpgradeOrder, []string{"fw-b", "fw-c"}) || !facts.LockHeld || facts.RollingBack ||
		!slices.Contains(facts.DoneSteps, "upgrade/fw-b") || !slices.Equal(facts.Unfinished, []StepID{"upgrade/fw-c"}) {
		t.Fatalf("facts %+v", facts)
	}
	rp := JournalProgress(entries)
	if !rp.Unfinished() || len(rp.Approvals) == 0 || rp.Approvals[0].ApprovedBy != "ci@runner (--yes)" {
		t.Fatalf("progress: unfinished %v approvals %+v", rp.Unfinished(), rp.Approvals)
	}
	m, err := ResumeState(w.replan(t, mtOpts()), facts, MachineOptions{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	w.restart(m)
	w.send(Begin{At: w.now})
	w.runToEnd()
	mtEqual(t, "resumed", mtChanges(w.effects), mtJoin([]string{"lock", "start fw-c"}, mtUpgradeSeq("fw-a"), []string{"unlock"}))
	if w.m.ExitCode != 0 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
}
