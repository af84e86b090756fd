package runbook

import "fmt"

// Roll back one node this run changed: stop it (unless it is down),
// restore <binary>.prev, start it, pass the restart gates on the previous
// build. Rollbacks go newest swap first.
func rollbackStep(c stepCtx) stepDef {
	n := c.node
	d := stepDef{Title: fmt.Sprintf("Roll back %s: %s → %s", n.Name, c.m.Plan.Target.Label(), n.Previous.Label()),
		Phase: PhaseRollback, Busy: NodeRollingBack, Done: NodeRolledBack, OnDone: rolledBack}
	if !n.Swapped && !n.PrevKept && !n.Down {
		d.Skip = fmt.Sprintf("%s was not changed: nothing to roll back", n.Name)
		return d
	}
	if n.Down {
		d.Ops = []op{approveOp{}}
	} else {
		d.Ops = []op{quorumOp{}, approveOp{}, quorumOp{final: true}, nodeOp{OpStop}}
	}
	if n.Swapped || n.PrevKept {
		d.Ops = append(d.Ops, nodeOp{OpRestorePrev})
	}
	d.Ops = append(d.Ops, nodeOp{OpStart}, restartGate(c, n.Previous))
	return d
}

// rolledBack marks the node's upgrade as rolled back.
func rolledBack(m *Machine, s *StepState) {
	m.RolledBack = append(m.RolledBack, s.Node)
	for i := range m.Steps {
		u := &m.Steps[i]
		if u.Kind == StepUpgrade && u.Node == s.Node && (u.Status == StatusDone || u.Status == StatusFailed) {
			u.Status = StatusRolledBack
		}
	}
}
