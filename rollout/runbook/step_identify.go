package runbook

// Identify builds: which release each node runs, from its binary's sha256.
// Read-only; a node whose binary is missing refuses the run.
func identifyStep(stepCtx) stepDef {
	return stepDef{Title: "Identify builds", Phase: PhaseIdentify, Refuses: true, Ops: []op{readFilesOp{identify: true}}}
}
