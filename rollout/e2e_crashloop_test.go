package rollout

import (
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The crashloop release exits 2 about 3 s after each start and the sim's
// systemd restarts it (Restart=on-failure). The restart gate re-reads the
// node's unit every couple of seconds and fails as soon as systemd has
// restarted it twice, naming the restarts, not after its 2-minute timeout
// (which a slow but live node still gets); the node is rolled back as for
// any failed gate.
func TestE2ECrashloopFailsFast(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Minute
	e := startE2E(t, 3, 4*time.Second, timeout)
	f := upgradeFails(t, e, "1.1.1-crashloop")
	for _, want := range []string{"stabilise gate: abort condition: ", f.Node + ": neuwerk.service restarted ", " times since the start (", "it is crash-looping"} {
		if !strings.Contains(f.Detail, want) {
			t.Errorf("failure %q does not say %q", f.Detail, want)
		}
	}
	if f.GateValues[health.GateServiceUp+".ok"] != "false" {
		t.Errorf("the service check did not fail: %v", f.GateValues)
	}
	// The gate opened when the node's start came back, and failed well
	// inside its timeout.
	var started time.Time
	for _, en := range e.journal() {
		if en.Kind == journal.Outcome && en.Op == runbook.OpStart.String() && en.Node == f.Node && en.OK && started.IsZero() {
			started = en.TS
		}
	}
	took := f.TS.Sub(started)
	t.Logf("%s's gate failed %s after its start (gate timeout %s): %s", f.Node, took.Round(100*time.Millisecond), timeout, f.Detail)
	if started.IsZero() || took <= 0 || took > 20*time.Second {
		t.Errorf("the gate failed %s after the start at %s, want within 20 s (timeout %s)", took, started, timeout)
	}
}
