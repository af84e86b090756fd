package runbook

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// Retrying a release this cluster rolled back recently warns: in the plan,
// and in the step the operator approves first (the same words).

var mtPlanNow = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

const mtRetryWarning = "1.1.0 was rolled back on this cluster 2h ago (run 92f398ea by root@vm: upgrade/fw-b: gate stabilise failed: policy_replication false; rolled back: fw-b); check why before retrying"

// mtRolledBack is a run of mtNew that rolled back age before mtPlanNow.
func mtRolledBack(age time.Duration) PriorRun {
	return PriorRun{ID: "92f398ea", Started: mtPlanNow.Add(-age), By: "root@vm", Target: mtNew, RolledBack: true,
		Reason: "upgrade/fw-b: gate stabilise failed: policy_replication false; rolled back: fw-b"}
}

func mtRetryPlan(t *testing.T, in PlanInput, runs ...PriorRun) Plan {
	t.Helper()
	in.Now, in.Runs = mtPlanNow, runs
	p, err := BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mtNotes are the lines of a step's text that carry a warning.
func mtNotes(m Machine, id StepID) []string {
	tx, _ := m.Text(id)
	var out []string
	for _, l := range tx.Does {
		if strings.HasPrefix(l, "warning: ") {
			out = append(out, l)
		}
	}
	return out
}

func TestPlanWarnsOfARecentRollbackOfTheSameRelease(t *testing.T) {
	other := mtRolledBack(time.Hour)
	other.ID, other.Target = "0badc0de", mtOld
	finished := mtRolledBack(time.Hour)
	finished.ID, finished.RolledBack = "f1f1f1f1", false
	p := mtRetryPlan(t, mtPlanInput(3, 0, mtOpts()), other, mtRolledBack(2*time.Hour+10*time.Minute), finished)

	mtEqual(t, "retry warnings", p.Retry, []string{mtRetryWarning})
	if !slices.Contains(p.Warnings, mtRetryWarning) {
		t.Errorf("plan warnings %q lack the retry warning", p.Warnings)
	}
	if text := strings.Join(p.Describe(), "\n"); !strings.Contains(text, "Warning: "+mtRetryWarning) {
		t.Errorf("nwroll plan does not print the warning:\n%s", text)
	}
	// The lock is the first approval: it carries the words, no other step does.
	m := NewMachine(p, MachineOptions{})
	for _, tx := range m.Texts() {
		want := []string(nil)
		if tx.ID == "lock" {
			want = []string{"warning: " + mtRetryWarning}
		}
		mtEqual(t, "warning lines of "+string(tx.ID), mtNotes(m, tx.ID), want)
	}
}

func TestPlanDoesNotWarnOfOtherRuns(t *testing.T) {
	old := mtRolledBack(RetryWarnWindow + time.Minute)
	other := mtRolledBack(time.Hour)
	other.Target = BuildRef{Version: "1.2.0", SHA256: strings.Repeat("ab", 32)}
	finished := mtRolledBack(time.Hour)
	finished.RolledBack = false
	for name, r := range map[string]PriorRun{"older than the window": old, "another release": other, "a finished run": finished} {
		t.Run(name, func(t *testing.T) {
			p := mtRetryPlan(t, mtPlanInput(3, 0, mtOpts()), r)
			if len(p.Retry) != 0 || slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.Contains(w, "rolled back") }) {
				t.Errorf("warnings %q", p.Warnings)
			}
			if got := mtNotes(NewMachine(p, MachineOptions{}), "lock"); len(got) != 0 {
				t.Errorf("the lock warns %q", got)
			}
		})
	}
	// The same version rebuilt (another sha256) still warns: it was rolled back by name.
	same := mtRolledBack(time.Hour)
	same.Target.SHA256 = strings.Repeat("cd", 32)
	if p := mtRetryPlan(t, mtPlanInput(3, 0, mtOpts()), same); len(p.Retry) != 1 {
		t.Errorf("a roll-back of the same version: retry warnings %q, want one", p.Retry)
	}
}

// The first dialog the console shows carries the warning: the lock's, or
// the unknown-build step's when a node runs an unknown build.
func TestRetryWarningInTheFirstApproval(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    func() PlanInput
		first StepID
	}{
		{"lock", func() PlanInput { return mtPlanInput(3, 0, mtOpts()) }, "lock"},
		{"unknown build", func() PlanInput {
			in := mtPlanInput(3, 0, mtOpts())
			in.Nodes[1].Current = BuildRef{SHA256: mtHotfixSHA}
			return in
		}, "unknown-build"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, mtRetryPlan(t, tc.in(), mtRolledBack(2*time.Hour)), MachineOptions{Approver: "op@laptop"})
			w.autoApprove = false
			w.send(Begin{At: w.now})
			w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })
			s, _ := w.m.AwaitingApproval()
			if s.ID != tc.first {
				t.Fatalf("the first approval is %s, want %s", s.ID, tc.first)
			}
			mtEqual(t, "the first dialog's warning", mtNotes(w.m, s.ID), []string{"warning: " + mtRetryWarning})
			for _, tx := range w.m.Texts() {
				if tx.ID != s.ID && len(mtNotes(w.m, tx.ID)) > 0 {
					t.Errorf("%s warns too: the warning belongs to the first approval only", tx.ID)
				}
			}
		})
	}
}

// A history that cannot be read is said, not passed over in silence.
func TestPlanSaysTheHistoryWasUnreadable(t *testing.T) {
	in := mtPlanInput(3, 0, mtOpts())
	in.RunsErr = errors.New("journal: run-x.jsonl line 3: bad json")
	p := mtRetryPlan(t, in)
	mtEqual(t, "retry warnings", p.Retry, []string{"the run history could not be read (journal: run-x.jsonl line 3: bad json): a recent roll-back of 1.1.0 would go unmentioned"})
}
