package runbook

// Connect: SSH to every node, pin the API CA, get an admin token and map
// the node ids. Read-only; a failure refuses the run.
func connectStep(stepCtx) stepDef {
	return stepDef{Title: "Connect", Phase: PhaseConnect, Refuses: true, Ops: []op{connectOp{}}}
}
