package runbook

import (
	"time"

	"github.com/nwroll/nwroll/health"
)

// PreCheckSettle is how long the pre-check may keep failing before the run
// is refused. The leader writes all the time, so one sample can catch a
// healthy follower two entries behind; a truly degraded cluster is refused
// after it.
const PreCheckSettle = 10 * time.Second

// Pre-check: every node ready, a leader, every follower caught up, the
// membership equal to the inventory, at least three voters. The snapshot
// it passes on is the metrics baseline; a baseline sysdump follows.
// Read-only; a failure refuses the run.
func preCheckStep(c stepCtx) stepDef {
	return stepDef{Title: "Pre-check", Phase: PhasePreCheck, Refuses: true, Ops: []op{
		gateOp{saveBaseline: true, gate: func(c stepCtx) health.Gate {
			checks := health.PreCheck(c.m.Plan.Refs())
			if c.m.Plan.Cloud != nil {
				checks = liveChecks(c.m) // a resumed cloud run's nodes are not the plan's
			}
			return health.Gate{Name: "pre-check", Checks: checks, Timeout: PreCheckSettle}
		}},
		sysdumpOp{purpose: SysdumpBaseline},
	}}
}
