package runbook

import "fmt"

// Recover (resume): a node a killed run left stopped is started on the
// binary in place, always a known build since swaps are atomic, and gated;
// so is one that runs when a kill cut its stop or start short (starting it
// is a no-op, and the journal then knows it runs); a node whose step was
// cut short is gated. Before the pre-check.
func recoverStep(c stepCtx) stepDef {
	n := c.node
	d := stepDef{Title: fmt.Sprintf("Recover %s: pass the gates on %s", n.Name, n.Binary.Label()), Phase: PhaseRecover, OnDone: recovered}
	if n.Down || n.StartUnsure {
		d.Title = fmt.Sprintf("Recover %s: start it on %s and pass the gates", n.Name, n.Binary.Label())
		d.Ops = []op{approveOp{}, nodeOp(OpStart)}
	}
	d.Ops = append(d.Ops, restartGate(c, n.Binary))
	return d
}

// recovered: a node recovered on the target counts as upgraded.
func recovered(m *Machine, s *StepState) {
	n := m.node(s.Node)
	switch {
	case n.Binary.SHA256 == m.Plan.Target.SHA256:
		m.setNode(n, NodeUpgraded)
		for i := range m.Steps {
			u := &m.Steps[i]
			if u.Kind == StepUpgrade && u.Node == n.Name && u.Status == StatusPending {
				u.Status, u.Note = StatusDone, "recovered on resume"
			}
		}
	case n.Staged:
		m.setNode(n, NodeStaged)
	default:
		m.setNode(n, NodePending)
	}
}
