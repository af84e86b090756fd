package runbook

// Release the lock taken at the start. A run that ends in a rollback or an
// abort first removes the target it staged from every node that never got
// it in place, on the approval of that rollback or abort (unstageOp). The
// release step is also how such a run ends (failure.go).
func releaseStep(c stepCtx) stepDef {
	m := c.m
	d := stepDef{Title: "Release the lock", Phase: PhaseRelease}
	if nodes := m.toUnstage(); m.lockHeld && m.unwinding() && len(nodes) > 0 {
		d.Title = "Remove the staged release and release the lock"
		if _, _, covered := m.unwindApproval(); !covered {
			d.Ops = append(d.Ops, approveOp{}) // `nwroll rollback` with nothing else to undo: this is its change
		}
		d.Ops = append(d.Ops, unstageOp{nodes: nodes})
	}
	if !m.started || m.lockHeld {
		d.Ops = append(d.Ops, unlockOp{})
	}
	if len(d.Ops) == 0 {
		d.Skip = "the lock is not held"
	}
	return d
}
