package runbook

import (
	"fmt"

	"github.com/nwroll/nwroll/health"
)

// Bake (--bake): after the first follower's upgrade, a canary soak. The
// node upgraded first must keep every restart check, abort signals
// included, for the whole duration; a check that fails once they all held
// ends the bake at once, with the usual choices. Read-only.
func bakeStep(c stepCtx) stepDef {
	o, target := c.opts(), c.m.Plan.Target
	canary := canaryOf(c.m)
	if canary == nil {
		return stepDef{Title: "Bake the first upgraded node", Phase: PhaseFollowers, Skip: "no node is upgraded to bake"}
	}
	cc := c
	cc.node = canary
	soak := restartGate(cc, target)
	restart := soak.gate
	soak.gate = func(c stepCtx) health.Gate {
		g := restart(c)
		g.Name, g.Hold, g.Strict = "bake", o.Bake, true
		return g
	}
	return stepDef{Title: fmt.Sprintf("Bake %s on %s for %s (canary)", canary.Name, target.Label(), o.Bake),
		Phase: PhaseFollowers, Node: canary.Name, Done: NodeUpgraded, Ops: []op{soak}}
}

// canaryOf is the node this run upgraded first, or, before any upgrade,
// the node whose upgrade comes first now.
func canaryOf(m *Machine) *NodeState {
	var first *NodeState
	for i := range m.Nodes {
		if n := &m.Nodes[i]; n.SwapSeq > 0 && (first == nil || n.SwapSeq < first.SwapSeq) {
			first = n
		}
	}
	if first != nil {
		return first
	}
	for _, s := range m.Steps {
		if s.Kind == StepUpgrade && s.Status == StatusPending {
			return m.node(s.Node)
		}
	}
	return nil
}
