package runbook

// The catalogue: the runbook's order, written once, and which definition
// each step kind has. A new step is a file of its own with its definition
// (step_*.go), its kind, and its place here.

// runbook lays out the steps of a plan in order. Node steps run followers
// first in inventory order and the leader last; the machine keeps the
// leader last as leadership moves.
func runbook(p Plan) []Step {
	leader := ""
	if l, ok := p.Leader(); ok {
		leader = l.Name
	}
	order := nodeOrder(p.Nodes, leader)
	var steps []Step
	add := func(kind StepKind, node string) {
		steps = append(steps, Step{ID: StepIDFor(kind, node), Index: len(steps) + 1, Kind: kind, Node: node})
	}
	add(StepConnect, "")
	add(StepIdentify, "")
	add(StepPreCheck, "")
	add(StepLock, "")
	add(StepStage, "")
	if p.Options.Backup == BackupReuse {
		add(StepBackupReuse, "")
	} else {
		for _, n := range order {
			add(StepBackup, n.Name)
		}
	}
	for _, n := range order {
		add(StepUpgrade, n.Name)
	}
	add(StepValidate, "")
	add(StepRelease, "")
	return steps
}

// definitions maps a step kind to its definition.
var definitions = map[StepKind]func(c stepCtx) stepDef{
	StepConnect:     connectStep,
	StepIdentify:    identifyStep,
	StepPreCheck:    preCheckStep,
	StepLock:        lockStep,
	StepStage:       stageStep,
	StepBackup:      backupStep,
	StepBackupReuse: backupReuseStep,
	StepUpgrade: func(c stepCtx) stepDef {
		if c.leads() {
			return upgradeLeaderStep(c)
		}
		return upgradeFollowerStep(c)
	},
	StepValidate: validateStep,
	StepRelease:  releaseStep,
	StepRecover:  recoverStep,
	StepRollback: rollbackStep,
}

// define is the step's definition as it stands now.
func (m *Machine) define(s *StepState) stepDef {
	c := stepCtx{m: m, step: s, node: m.node(s.Node)}
	if s.Node != "" && c.node == nil {
		return stepDef{Title: string(s.ID), Skip: "node " + s.Node + " is not in the plan"}
	}
	return definitions[s.Kind](c)
}
