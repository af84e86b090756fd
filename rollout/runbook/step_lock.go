package runbook

// Lock: one operator at a time. The lock lives on the nodes and names this
// run; another holder refuses the run. A resumed run that still holds its
// own lock takes it back without asking: that changes nothing on a node.
// Asking first, it repeats the plan's warnings that this release was
// rolled back here recently (retryNote).
func lockStep(c stepCtx) stepDef {
	if c.m.resumeLock {
		return stepDef{Title: "Take back this run's own lock on every node", Phase: PhaseLock, Refuses: true, Ops: []op{lockOp{}}}
	}
	return stepDef{Title: "Take the lock on every node", Phase: PhaseLock, Refuses: true, Ops: append(retryNote(c), approveOp{}, lockOp{})}
}
