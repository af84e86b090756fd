package runbook

// Stage: the target to <binary>.new on every node that lacks it, in
// parallel, verified against the manifest's sha256.
func stageStep(c stepCtx) stepDef {
	d := stepDef{Title: "Stage " + c.m.Plan.Target.Label(), Phase: PhaseStage, Ops: []op{stageOp{}}}
	if c.m.started && len(c.m.toStage()) == 0 {
		d.Skip = "every node already has the target staged or in place"
	}
	return d
}
