package runbook

import "github.com/nwroll/nwroll/health"

// Validate: every node ready and on the target, the cluster healthy; a
// post-upgrade sysdump.
func validateStep(c stepCtx) stepDef {
	return stepDef{Title: "Validate", Phase: PhaseValidate, Ops: []op{
		readFilesOp{},
		gateOp{gate: func(c stepCtx) health.Gate {
			p := c.m.Plan
			var checks []health.Check
			for _, n := range p.Nodes {
				checks = append(checks,
					health.NodeReady{Node: n.Ref(), Label: n.Name + " healthy"},
					health.BinaryIs{Node: n.Ref(), Label: n.Name + " binary", Path: p.Options.Binary,
						Want: p.Target.SHA256, WantLabel: p.Target.Label(), ReadSince: c.step.StartedAt})
			}
			checks = append(checks, health.ClusterOK{IDs: p.NodeIDs()})
			return health.Gate{Name: "validate", Checks: checks, Timeout: p.Options.GateTimeout}
		}},
		sysdumpOp{purpose: SysdumpFinal},
	}}
}
