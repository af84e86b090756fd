package runbook

// Lock: one operator at a time. The lock lives on the nodes and names this
// run; another holder refuses the run.
func lockStep(stepCtx) stepDef {
	return stepDef{Title: "Take the lock on every node", Phase: PhaseLock, Refuses: true, Ops: []op{approveOp{}, lockOp{}}}
}
