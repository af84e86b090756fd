package journal

import (
	"fmt"
	"slices"
	"testing"

	"github.com/nwroll/nwroll/rollout/runbook"
)

// Resume from the journal the machine wrote: the machine's Records become
// journal entries (EntryOf), and ResumeFacts reads the facts
// back from them.

func mtEntries(effs []runbook.Effect) []Entry {
	var out []Entry
	for _, r := range mtOfKind[runbook.Record](effs) {
		out = append(out, EntryOf(r))
	}
	return out
}

// `nwroll rollback` after a full upgrade: reverse order, exit 0.
func TestRollbackStateAfterSuccess(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), runbook.MachineOptions{Headless: true})
	w.send(runbook.Begin{At: w.now})
	w.runToEnd()
	facts := ResumeFacts(mtEntries(w.effects), w.real())
	if !slices.Equal(facts.UpgradeOrder, []string{"fw-b", "fw-c", "fw-a"}) || facts.LockHeld || facts.RollingBack {
		t.Fatalf("facts %+v", facts)
	}
	m, err := runbook.RollbackState(w.replan(t, mtOpts()), facts, runbook.MachineOptions{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	w.restart(m)
	w.send(runbook.Begin{At: w.now})
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
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), runbook.MachineOptions{Headless: true})
	w.badNew["fw-c"] = true
	w.send(runbook.Begin{At: w.now})
	// Kill right after the rollback's stop of fw-c was performed.
	w.runUntil(func() bool {
		return len(w.queue) > 0 && w.queue[0].Kind() == "stop" && runbook.EffectNode(w.queue[0]) == "fw-c" && w.m.RollingBack()
	})
	w.answer(w.queue[0]) // performed, but the outcome never reached the journal
	facts := ResumeFacts(mtEntries(w.effects), w.real())
	if !facts.RollingBack || !facts.LockHeld || !slices.Equal(facts.UpgradeOrder, []string{"fw-b", "fw-c"}) {
		t.Fatalf("facts %+v", facts)
	}
	m, err := runbook.ResumeState(w.replan(t, mtOpts()), facts, runbook.MachineOptions{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	w.badNew["fw-c"] = false
	w.restart(m)
	w.send(runbook.Begin{At: w.now})
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
	for _, backup := range []runbook.BackupMode{runbook.BackupLive, runbook.BackupQuiesced} {
		t.Run(backup.String(), func(t *testing.T) {
			o := mtOpts()
			o.Backup = backup
			mtKillAnywhere(t, o)
		})
	}
}

func mtKillAnywhere(t *testing.T, o runbook.PlanOptions) {
	ref := newWorld(t, mtPlan(t, 3, 0, o), runbook.MachineOptions{Headless: true})
	ref.send(runbook.Begin{At: ref.now})
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
				w := newWorld(t, mtPlan(t, 3, 0, o), runbook.MachineOptions{Headless: true})
				w.send(runbook.Begin{At: w.now})
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
				facts := ResumeFacts(mtEntries(w.effects), w.real())
				m, err := runbook.ResumeState(w.replan(t, o), facts, runbook.MachineOptions{Headless: true})
				if err != nil {
					t.Fatal(err)
				}
				w.restart(m)
				w.send(runbook.Begin{At: w.now})
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
// Read) and come back as the facts resume needs.
func TestResumeThroughRealJournal(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), runbook.MachineOptions{Headless: true, Approver: "ci@runner"})
	w.send(runbook.Begin{At: w.now})
	// Kill between fw-c's swap and its start.
	w.runUntil(func() bool {
		return len(w.queue) > 0 && w.queue[0].Kind() == "start" && runbook.EffectNode(w.queue[0]) == "fw-c"
	})
	j, err := Open(t.TempDir(), "lab")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mtOfKind[runbook.Record](w.effects) {
		if err := j.Append(EntryOf(r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := Read(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	facts := ResumeFacts(entries, w.real())
	if !slices.Equal(facts.UpgradeOrder, []string{"fw-b", "fw-c"}) || !facts.LockHeld || facts.RollingBack ||
		!slices.Contains(facts.DoneSteps, "upgrade/fw-b") || !slices.Equal(facts.Unfinished, []runbook.StepID{"upgrade/fw-c"}) {
		t.Fatalf("facts %+v", facts)
	}
	rp := Progress(entries)
	if !rp.Unfinished() || len(rp.Approvals) == 0 || rp.Approvals[0].ApprovedBy != "ci@runner (--yes)" {
		t.Fatalf("progress: unfinished %v approvals %+v", rp.Unfinished(), rp.Approvals)
	}
	m, err := runbook.ResumeState(w.replan(t, mtOpts()), facts, runbook.MachineOptions{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	w.restart(m)
	w.send(runbook.Begin{At: w.now})
	w.runToEnd()
	mtEqual(t, "resumed", mtChanges(w.effects), mtJoin([]string{"lock", "start fw-c"}, mtUpgradeSeq("fw-a"), []string{"unlock"}))
	if w.m.ExitCode != 0 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
}
