package journal

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nwroll/nwroll/rollout/rollouttest"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// Resume from the journal the machine wrote: the machine's Records become
// journal entries (EntryOf), and ResumeFacts reads the facts back from
// them. The cluster is rollouttest's fake, driven to a point, "killed",
// and driven on by a resumed machine.

func entriesOf(effs []runbook.Effect) []Entry {
	var out []Entry
	for _, r := range rollouttest.EffectsOf[runbook.Record](effs) {
		out = append(out, EntryOf(r))
	}
	return out
}

func headless() runbook.MachineOptions {
	return runbook.MachineOptions{Headless: true, Approver: "ci@runner"}
}

func upgradeSeq(node string) []string {
	return []string{"stop " + node, "keep-prev " + node, "swap " + node, "start " + node}
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// resumed builds the machine that continues d's run from the journal and
// the cluster's real state, and a driver for it on the same cluster.
func resumed(t *testing.T, d *rollouttest.Driver, rollback bool) *rollouttest.Driver {
	t.Helper()
	facts := ResumeFacts(entriesOf(d.Effects), d.C.Files())
	p := d.C.Plan(t, rollouttest.DefaultPlanOptions())
	m, err := runbook.ResumeState(p, facts, headless())
	if rollback {
		m, err = runbook.RollbackState(p, facts, headless(), runbook.RollbackScope{})
	}
	if err != nil {
		t.Fatal(err)
	}
	return rollouttest.NewDriverOn(t, d.C, m)
}

// `nwroll rollback` after a full upgrade: reverse order, exit 0.
func TestRollbackStateAfterSuccess(t *testing.T) {
	c := rollouttest.NewCluster(3, 0)
	d := rollouttest.NewDriver(t, c, c.Plan(t, rollouttest.DefaultPlanOptions()), headless())
	d.Begin()
	d.RunToEnd()
	facts := ResumeFacts(entriesOf(d.Effects), c.Files())
	if !slices.Equal(facts.UpgradeOrder, []string{"fw-b", "fw-c", "fw-a"}) || facts.LockHeld || facts.RollingBack {
		t.Fatalf("facts %+v", facts)
	}
	r := resumed(t, d, true)
	r.Begin()
	r.RunToEnd()
	equal(t, "rollback", rollouttest.Changes(r.Effects), []string{"lock",
		"stop fw-a", "rollback fw-a", "start fw-a",
		"stop fw-c", "rollback fw-c", "start fw-c",
		"stop fw-b", "rollback fw-b", "start fw-b", "unlock"})
	if r.M.ExitCode != 0 || !slices.Equal(r.M.RolledBack, []string{"fw-a", "fw-c", "fw-b"}) {
		t.Fatalf("exit %d rolled back %v: %s", r.M.ExitCode, r.M.RolledBack, r.M.Reason)
	}
	if r.M.Reason != "rolled back: fw-a, fw-c, fw-b" {
		t.Errorf("finish reason %q must say what was rolled back, not claim the target", r.M.Reason)
	}
	for _, n := range c.Nodes() {
		if n.Binary != rollouttest.Old || !n.Up {
			t.Fatalf("%s on %s, up %v", n.Name, n.Binary.Label(), n.Up)
		}
	}
}

// Killed in the middle of a --yes rollback: resume continues the rollback
// and ends with exit 4.
func TestResumeRollingBack(t *testing.T) {
	c := rollouttest.NewCluster(3, 0)
	d := rollouttest.NewDriver(t, c, c.Plan(t, rollouttest.DefaultPlanOptions()), headless())
	c.NeverReadyOn("fw-c")
	d.Begin()
	// Kill right after the rollback's stop of fw-c was performed.
	d.RunUntil(func(m runbook.Machine) bool {
		p := d.Pending()
		return len(p) > 0 && p[0].Kind() == "stop" && runbook.EffectNode(p[0]) == "fw-c" && m.Phase == runbook.PhaseRollback
	})
	c.Answer(d.Pending()[0]) // performed, but the outcome never reached the journal
	facts := ResumeFacts(entriesOf(d.Effects), c.Files())
	if !facts.RollingBack || !facts.LockHeld || !slices.Equal(facts.UpgradeOrder, []string{"fw-b", "fw-c"}) {
		t.Fatalf("facts %+v", facts)
	}
	c.Heal("fw-c")
	r := resumed(t, d, false)
	r.Begin()
	r.RunToEnd()
	equal(t, "resumed rollback", rollouttest.Changes(r.Effects), []string{"lock",
		"rollback fw-c", "start fw-c",
		"stop fw-b", "rollback fw-b", "start fw-b",
		"unstage fw-a", // the target staged on fw-a and never put in place goes with the rollback
		"unlock"})
	if r.M.ExitCode != 4 {
		t.Fatalf("exit %d: %s", r.M.ExitCode, r.M.Reason)
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
			o := rollouttest.DefaultPlanOptions()
			o.Backup = backup
			killAnywhere(t, o)
		})
	}
	// A kill during the bake: the resumed run bakes the canary again.
	t.Run("bake", func(t *testing.T) {
		o := rollouttest.DefaultPlanOptions()
		o.Bake = 10 * time.Second
		killAnywhere(t, o)
	})
}

func killAnywhere(t *testing.T, o runbook.PlanOptions) {
	run := func(t *testing.T, answers int, lost bool) *rollouttest.Driver {
		c := rollouttest.NewCluster(3, 0)
		d := rollouttest.NewDriver(t, c, c.Plan(t, o), headless())
		d.Begin()
		for n := 0; n < answers && !d.M.Finished; {
			if len(d.Pending()) > 0 {
				n++
			}
			d.Step()
		}
		if lost && len(d.Pending()) > 0 {
			c.Answer(d.Pending()[0])
		}
		return d
	}
	ref := run(t, 1<<30, false)
	answered := 0
	for _, e := range ref.Effects {
		if runbook.EffectNeedsResult(e) {
			answered++
		}
	}
	for k := 0; k <= answered; k++ {
		for _, lost := range []bool{false, true} {
			t.Run(fmt.Sprintf("after %d answers, outcome lost %v", k, lost), func(t *testing.T) {
				d := run(t, k, lost)
				if d.M.Finished {
					return
				}
				for _, n := range d.C.Nodes() {
					if n.Binary != rollouttest.Old && n.Binary != rollouttest.New {
						t.Fatalf("%s on an unknown binary after the kill", n.Name)
					}
				}
				facts := ResumeFacts(entriesOf(d.Effects), d.C.Files())
				m, err := runbook.ResumeState(d.C.Plan(t, o), facts, headless())
				if err != nil {
					t.Fatal(err)
				}
				r := rollouttest.NewDriverOn(t, d.C, m)
				r.Begin()
				r.RunToEnd()
				if r.M.ExitCode != 0 {
					t.Fatalf("exit %d: %s", r.M.ExitCode, r.M.Reason)
				}
				for _, n := range d.C.Nodes() {
					if n.Binary != rollouttest.New || n.Prev != rollouttest.Old || !n.Up {
						t.Fatalf("%s: bin %s prev %s up %v", n.Name, n.Binary.Label(), n.Prev.Label(), n.Up)
					}
				}
				if d.C.MaxDown() > 1 {
					t.Fatalf("max down %d", d.C.MaxDown())
				}
				if o.Bake > 0 {
					if s, ok := r.M.StepByID("bake"); !ok || s.Status != runbook.StatusDone {
						t.Fatalf("the bake did not run to its end: %+v", s)
					}
				}
			})
		}
	}
}

// The machine's records go through the real journal (Append, fsync,
// Read) and come back as the facts resume needs.
func TestResumeThroughRealJournal(t *testing.T) {
	c := rollouttest.NewCluster(3, 0)
	d := rollouttest.NewDriver(t, c, c.Plan(t, rollouttest.DefaultPlanOptions()), headless())
	d.Begin()
	// Kill between fw-c's swap and its start.
	d.RunUntil(func(runbook.Machine) bool {
		p := d.Pending()
		return len(p) > 0 && p[0].Kind() == "start" && runbook.EffectNode(p[0]) == "fw-c"
	})
	j, err := Open(t.TempDir(), "lab")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entriesOf(d.Effects) {
		if err := j.Append(e); err != nil {
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
	facts := ResumeFacts(entries, c.Files())
	if !slices.Equal(facts.UpgradeOrder, []string{"fw-b", "fw-c"}) || !facts.LockHeld || facts.RollingBack ||
		!slices.Contains(facts.DoneSteps, "upgrade/fw-b") || !slices.Equal(facts.Unfinished, []runbook.StepID{"upgrade/fw-c"}) {
		t.Fatalf("facts %+v", facts)
	}
	for _, n := range []string{"fw-a", "fw-b", "fw-c"} {
		if b := facts.Backups[n]; b.Path == "" || b.Set == "" {
			t.Errorf("facts: %s's backup is not carried to the resumed run: %+v", n, b)
		}
	}
	rp := Progress(entries)
	if !unfinished(rp) || len(rp.Approvals) == 0 || rp.Approvals[0].ApprovedBy != "ci@runner (--yes)" {
		t.Fatalf("progress: unfinished %v approvals %+v", unfinished(rp), rp.Approvals)
	}
	m, err := runbook.ResumeState(c.Plan(t, rollouttest.DefaultPlanOptions()), facts, headless())
	if err != nil {
		t.Fatal(err)
	}
	r := rollouttest.NewDriverOn(t, c, m)
	r.Begin()
	r.RunToEnd()
	equal(t, "resumed", rollouttest.Changes(r.Effects), append(append([]string{"lock", "start fw-c"}, upgradeSeq("fw-a")...), "unlock"))
	if r.M.ExitCode != 0 {
		t.Fatalf("exit %d: %s", r.M.ExitCode, r.M.Reason)
	}
}
