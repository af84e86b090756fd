package runbook

import (
	"fmt"
	"strings"
)

// Roll back one node this run changed: stop it (unless it is down),
// restore <binary>.prev, start it, pass the restart gates on the previous
// build. Rollbacks go newest swap first. A run that rolls back does not go
// on: once the rollbacks are done, the steps not run yet are skipped, and the
// run's end removes the target it staged from the nodes that never got it
// (step_release.go), on this approval.
func rollbackStep(c stepCtx) stepDef {
	n := c.node
	d := stepDef{Title: fmt.Sprintf("Roll back %s: %s → %s", n.Name, c.m.Plan.Target.Label(), n.Previous.Label()),
		Phase: PhaseRollback, Busy: NodeRollingBack, Done: NodeRolledBack, OnDone: rolledBack}
	if !n.Swapped && !n.PrevKept && !n.Down {
		d.Skip = fmt.Sprintf("%s was not changed: nothing to roll back", n.Name)
		return d
	}
	var chain []NodeOp
	if n.Down {
		d.Ops = []op{approveOp{}}
	} else {
		d.Ops = []op{quorumOp{}, approveOp{}, quorumOp{final: true}}
		chain = append(chain, OpStop)
	}
	if n.Swapped || n.PrevKept {
		chain = append(chain, OpRestorePrev)
	}
	d.Ops = append(d.Ops, chainOp{append(chain, OpStart)}, restartGate(c, n.Previous))
	if then := rollbackAlso(c.m); len(then) > 0 {
		d.Ops = append(d.Ops, noteOp(then))
	}
	return d
}

// rollbackAlso is what a rollback's approval also says yes to: the
// rollout not going on, and the staged target going from the nodes that
// never got it, when the run ends.
func rollbackAlso(m *Machine) []string {
	var then []string
	for _, s := range m.Steps {
		if s.Status == StatusPending && !isRollbackKind(s.Kind) && !isEndKind(s.Kind) {
			then = append(then, "then the rollout does not go on: the steps not run yet are skipped")
			break
		}
	}
	if nodes := m.toUnstage(); m.lockHeld && len(nodes) > 0 {
		then = append(then, fmt.Sprintf("when the run ends, delete the staged %s (.new, never put in place) from %s: this approval covers it",
			m.Plan.Target.Label(), strings.Join(nodes, ", ")))
	}
	return then
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
