package runbook

import "fmt"

// Upgrade a follower: quorum kept, approval, stop, keep .prev, swap, start,
// then the restart gates held for the window. Never again on a node that
// already runs the target (KeepPrev would overwrite .prev with it).
func upgradeFollowerStep(c stepCtx) stepDef {
	return upgradeStep(c, PhaseFollowers, nil)
}

// upgradeStep is the program both upgrade definitions share; extra are
// the leader's own lines.
func upgradeStep(c stepCtx, phase Phase, extra []string) stepDef {
	n := c.node
	d := stepDef{Title: fmt.Sprintf("Upgrade %s (%s): %s → %s", n.Name, c.role(), n.Previous.Label(), c.m.Plan.Target.Label()),
		Phase: phase, Done: NodeUpgraded}
	if n.Binary.SHA256 == c.m.Plan.Target.SHA256 {
		d.Skip = fmt.Sprintf("%s already runs %s", n.Name, c.m.Plan.Target.Label())
		if !n.Swapped {
			d.SkipStatus = NodeOnTarget
		}
		return d
	}
	d.Ops = []op{quorumOp{}, approveOp{}}
	if len(extra) > 0 {
		d.Ops = append(d.Ops, noteOp(extra))
	}
	d.Ops = append(d.Ops, quorumOp{final: true},
		chainOp{[]NodeOp{OpStop, OpKeepPrev, OpSwap, OpStart}},
		restartGate(c, c.m.Plan.Target))
	return d
}
