package runbook

import (
	"slices"
	"time"

	"github.com/nwroll/nwroll/health"
)

// A step definition is everything about one step kind, written once in a
// file of its own (step_*.go) as a function of the machine's state now:
// its title and phase, the operations it performs in order (ops.go), the
// gates those operations pass, and how its node's state reads while it
// runs and once it is done. The machine runs the operations; the plan,
// the approval dialog, the runbook pane and the log render the same
// definition, so no text about a step can disagree with what it does.

// stepDef is one step's definition as it stands now.
type stepDef struct {
	Title string
	Phase Phase
	Ops   []op
	// Skip, when set, is why the step does nothing now; SkipStatus is
	// the node's status then (0 leaves it).
	Skip       string
	SkipStatus NodeStatus
	// Refuses: a failure refuses the run (exit 3), since nothing has
	// changed on any node yet.
	Refuses bool
	// Busy is the node's status while any operation of the step runs (a
	// backup is "backing up" while it stops and starts); 0 uses each
	// operation's own.
	Busy NodeStatus
	// Done is the node's status once the step is done; 0 leaves it.
	Done NodeStatus
	// OnDone does the step's own bookkeeping once it is done.
	OnDone func(m *Machine, s *StepState)
	// Node is the node the step acts on when its place in the runbook
	// names none: a definition may choose it from the state (the bake's
	// canary is the node upgraded first).
	Node string
}

// stepCtx is what a definition may read: the machine, the step and its
// node (nil for a cluster step). Definitions never change it.
type stepCtx struct {
	m    *Machine
	step *StepState
	node *NodeState
}

func (c stepCtx) opts() PlanOptions { return c.m.Plan.Options }

// nodeName is the step's node's name, or "".
func (c stepCtx) nodeName() string {
	if c.node == nil {
		return ""
	}
	return c.node.Name
}

// leads reports whether the step's node is the leader now.
func (c stepCtx) leads() bool { return c.node != nil && c.node.Name == c.m.Leader }

// ref is the step's node as health's checks name it.
func (c stepCtx) ref() health.NodeRef {
	if c.node == nil {
		return health.NodeRef{}
	}
	return health.NodeRef{Name: c.node.Name, ID: c.node.NodeID}
}

// role is "follower" or "leader", with ", learner" for a learner.
func (c stepCtx) role() string {
	r := "follower"
	if c.leads() {
		r = "leader"
	}
	if c.node != nil && !c.node.Voter {
		r += ", learner"
	}
	return r
}

// StepText is a step as the plan, the approval dialog, the runbook pane
// and the log show it: rendered from its definition for the step as it
// stands now (for a finished step, as it ran).
type StepText struct {
	ID       StepID
	Kind     StepKind
	Node     string
	Title    string
	Phase    Phase
	Approval bool // it waits for y (or --yes)
	ReadOnly bool // it changes nothing on any node
	Refuses  bool // a failure refuses the run: nothing has changed yet
	Skip     string
	// Quorum is the arithmetic of the step's stop: live once a snapshot
	// is judged, else with every voter up.
	Quorum string
	// Does lists what the step does, in order.
	Does []string
	// Gate is the gate the step must pass, if any.
	Gate *GateText
}

// GateText is a gate as texts show it.
type GateText struct {
	Name    string
	Hold    time.Duration // how long every check must hold; 0: once
	Timeout time.Duration
	Strict  bool     // a soak: a check that fails once it held fails the step
	Checks  []string // each check's requirement, in order: exactly what the machine judges
}

// text renders a definition.
func (d stepDef) text(c stepCtx) StepText {
	t := StepText{ID: c.step.ID, Kind: c.step.Kind, Node: c.nodeName(), Title: d.Title, Phase: d.Phase,
		Refuses: d.Refuses, Skip: d.Skip, ReadOnly: true}
	if slices.Contains(leaderLastKinds, c.step.Kind) && c.node != nil && len(d.Ops) > 0 {
		t.Does = append(t.Does, "re-read the leader; if "+c.node.Name+" leads and others are left, it waits until last")
	}
	gateAt := -1
	for i, o := range d.Ops {
		t.Does = append(t.Does, o.lines(c)...)
		switch o := o.(type) {
		case approveOp:
			t.Approval = true
		case quorumOp:
			if t.Quorum == "" {
				t.Quorum = o.arithmetic(c)
			}
		case replaceQuorumOp:
			t.Quorum = o.arithmetic(c)
		case gateOp:
			// The gate shown is the step's next (or, once it ended, its last).
			if gateAt < 0 || gateAt < c.step.pc {
				g := o.gate(c)
				t.Gate = &GateText{Name: g.Name, Hold: g.Hold, Timeout: g.Timeout, Strict: g.Strict, Checks: g.Describe()}
				gateAt = i
			}
		}
		if o.changes() {
			t.ReadOnly = false
		}
	}
	return t
}
