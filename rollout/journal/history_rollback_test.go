package journal

import (
	"strings"
	"testing"

	"github.com/nwroll/nwroll/rollout/rollouttest"
)

// A run that rolled back says why: the failure it stopped on, its step
// first; and that it rolled a node back. A finished run says neither.
func TestHistoryRollbackNamesItsFailure(t *testing.T) {
	state := t.TempDir()
	c := rollouttest.NewCluster(3, 0)
	c.NeverReadyOn("fw-b")
	rb := writeRun(t, state, c, headless(), nil)
	if rb.Outcome != OutcomeRolledBack || !rb.RolledBackNode() {
		t.Fatalf("rolled-back run: %+v", rb)
	}
	if !strings.HasPrefix(rb.Failure, "upgrade/fw-b: ") || !strings.Contains(rb.Failure, "fw-b") || len(rb.Failure) <= len("upgrade/fw-b: ") {
		t.Errorf("Failure = %q: want the upgrade of fw-b's failure", rb.Failure)
	}

	done := writeRun(t, state, rollouttest.NewCluster(3, 0), headless(), nil)
	if done.Outcome != OutcomeFinished || done.Failure != "" || done.RolledBackNode() {
		t.Fatalf("finished run: outcome %s, failure %q, rolled a node back %v", done.Outcome, done.Failure, done.RolledBackNode())
	}
}
