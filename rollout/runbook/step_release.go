package runbook

// Release the lock taken at the start.
func releaseStep(c stepCtx) stepDef {
	d := stepDef{Title: "Release the lock", Phase: PhaseRelease, Ops: []op{unlockOp{}}}
	if c.m.started && !c.m.lockHeld {
		d.Skip = "the lock is not held"
	}
	return d
}
