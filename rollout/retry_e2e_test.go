package rollout

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// Retrying a release this cluster rolled back warns (issue 9 §5): the
// never-ready release rolls back; planning it again warns in `nwroll
// plan`, in the headless log and in the lock's approval (the first
// dialog), naming the run and its failure; another release does not.
func TestE2ERetryOfARolledBackReleaseWarns(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 3, 2*time.Second, 12*time.Second)
	f := upgradeFails(t, e, "1.1.1-never-ready")
	h, err := journal.History(e.env.StateDir, e.env.Inventory.Cluster)
	if err != nil || len(h) != 1 {
		t.Fatalf("history: %d runs, %v", len(h), err)
	}
	rb := h[0]
	if rb.Outcome != journal.OutcomeRolledBack || !strings.HasPrefix(rb.Failure, f.StepID+": ") {
		t.Fatalf("the rolled-back run reads %s, failure %q; want rolled back on %s", rb.Outcome, rb.Failure, f.StepID)
	}
	ctx := context.Background()
	// withOut is the cluster's env writing to a log of its own.
	withOut := func() (Env, *syncBuffer) {
		env, out := e.env, &syncBuffer{t: t}
		env.Out = out
		return env, out
	}
	plan := func(version string) string {
		env, out := withOut()
		if err := PrintPlan(ctx, env, PlanOptionsIn{Release: e.release(version), Backup: runbook.BackupLive}); err != nil {
			t.Fatalf("plan %s: %v", version, err)
		}
		return out.String()
	}
	words := "1.1.1-never-ready was rolled back on this cluster "
	run := "(run " + rb.ID + " by " + rb.StartedBy + ": " + rb.Failure
	text := plan("1.1.1-never-ready")
	for _, want := range []string{"Warning: " + words, "warning: " + words, run, "; check why before retrying"} {
		if !strings.Contains(text, want) {
			t.Errorf("nwroll plan does not say %q:\n%s", want, text)
		}
	}
	if text := plan("1.1.0"); strings.Contains(text, "rolled back on this cluster") {
		t.Errorf("a plan of another release warns of the roll-back:\n%s", text)
	}

	env, out := withOut()
	r, err := PrepareUpgrade(ctx, env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: e.release("1.1.1-never-ready"), Backup: runbook.BackupLive}},
		runbook.MachineOptions{Approver: "op@test"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.Plan.Retry) != 1 {
		t.Fatalf("retry warnings %q, want one", r.Plan.Retry)
	}
	w := r.Plan.Retry[0]
	if !strings.Contains(w, words) || !strings.Contains(w, run) {
		t.Errorf("retry warning %q", w)
	}
	if log := out.String(); !strings.Contains(log, w) {
		t.Errorf("the headless log does not carry the warning %q:\n%s", w, log)
	}
	lock, _ := r.Machine.Text("lock")
	if !lock.Approval || !strings.Contains(strings.Join(lock.Does, "\n"), "warning: "+w) {
		t.Errorf("the lock's approval (the first dialog) lacks the warning: %q", lock.Does)
	}
}
