package rollout

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/rollout/journal"
)

func TestRenderRunsNamesTheWayOut(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 22, 0, 0, time.Local)
	rep := RunsReport{Cluster: "lab", Journal: "/state/lab", Unfinished: "92f398ea", Runs: []journal.RunSummary{
		{ID: "0badc0de", StartedBy: "op@vm", Started: at.Add(time.Hour), From: "1.0.0", Target: "1.1.0", Outcome: journal.OutcomeRefused},
		{ID: "5eedf00d", StartedBy: "op@vm", Started: at.Add(-time.Hour), From: "1.0.0", Target: "1.1.1", Outcome: journal.OutcomeRolledBack,
			Failure: "upgrade/fw-b: stabilise gate did not hold within 2m0s: fw-b not ready"},
		{ID: "92f398ea", StartedBy: "root@vm", Started: at, From: "1.0.0", Target: "1.1.0", Outcome: journal.OutcomeInterrupted, Unfinished: true,
			Changes: []journal.NodeChanges{{Node: "fw-c", Ops: []string{"stop", "keep-prev"}, InFlight: []string{"swap"}}}},
	}}
	var b bytes.Buffer
	if err := RenderRuns(&b, rep, "inv.yaml", false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"cluster lab: 3 run(s), newest first",
		"run 5eedf00d stopped on upgrade/fw-b: stabilise gate did not hold within 2m0s: fw-b not ready",
		"92f398ea  2026-12-03 09:22:00  root@vm  1.0.0 → 1.1.0  interrupted (unfinished)  fw-c: stop, keep-prev, cut short: swap",
		"0badc0de  2026-12-03 10:22:00  op@vm    1.0.0 → 1.1.0  refused                   nothing",
		"run 92f398ea is unfinished: `nwroll resume -i inv.yaml` continues it, `nwroll rollback -i inv.yaml` undoes it",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nwroll runs lacks %q:\n%s", want, out)
		}
	}
	rep.Unfinished = ""
	b.Reset()
	RenderRuns(&b, rep, "inv.yaml", false)
	if strings.Contains(b.String(), "is unfinished") {
		t.Errorf("a way out offered with no unfinished run:\n%s", b.String())
	}
}
