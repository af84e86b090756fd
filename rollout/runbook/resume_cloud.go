package runbook

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Resume in cloud mode: the plan is the group as it is now (its live
// instances as nodes), and the journal says which of them this run
// launched, which replacement a kill cut short and where, what it froze
// and which template version it made. A replacement cut short goes on
// from its surge (asking the same capacity again, which finds the same
// instance), its join gate or its retirement, before the pre-check; the
// nodes not replaced yet are replaced as planned; the group is thawed at
// the end. Nothing is launched twice and nothing stays frozen.

func resumeCloud(plan Plan, facts ResumeFacts, opts MachineOptions, mode resumeMode) (Machine, error) {
	m := NewMachine(plan, opts)
	cf := facts.Cloud
	if cf == nil {
		cf = &CloudFacts{}
	}
	m.nodesTouched = facts.Cloud != nil
	m.frozen = slices.Clone(cf.Frozen)
	m.newTemplate = cf.NewTemplate
	for i := range m.Nodes {
		n := &m.Nodes[i]
		if x, ok := cf.Launched[n.Name]; ok {
			n.Launched, n.Replaces = true, x
			if n.Binary.Image == plan.Target.Image {
				n.Status = NodeUpgraded
			}
		}
	}
	var cut []StepState
	for _, id := range facts.Unfinished {
		kind, node, _ := strings.Cut(string(id), "/")
		if kind != StepReplace.String() && kind != StepReplaceBack.String() {
			continue
		}
		st, err := m.resumeReplace(StepID(id), node, cf)
		if err != nil {
			return Machine{}, err
		}
		if st != nil {
			cut = append(cut, *st)
		}
	}
	if mode != resumeForward {
		return m.cloudRollbackSteps(plan, cf, cut, mode)
	}
	steps := []StepState{{Step: Step{ID: StepIDFor(StepConnect, ""), Kind: StepConnect}}}
	steps = append(steps, cut...)
	for _, s := range plan.Steps {
		switch {
		case s.Kind == StepConnect:
			continue
		case s.Kind == StepReplace && (slices.ContainsFunc(cut, func(c StepState) bool { return c.Node == s.Node }) || m.node(s.Node).Launched):
			continue // cut short (above), or an instance this run launched
		}
		steps = append(steps, StepState{Step: s})
	}
	m.Steps = renumber(steps)
	m.reorderGroups()
	return m, nil
}

// resumeReplace is the replacement of node a kill cut short, set to go
// on where it was, or nil when it never changed anything.
func (m *Machine) resumeReplace(id StepID, node string, cf *CloudFacts) (*StepState, error) {
	kind := StepReplace
	if strings.HasPrefix(string(id), StepReplaceBack.String()+"/") {
		kind = StepReplaceBack
	}
	st := &StepState{Step: Step{ID: id, Kind: kind, Node: node}}
	surged := ""
	for in, x := range cf.Launched {
		if x == node && m.node(in) != nil {
			surged = in
		}
	}
	ret, retiring := cf.Retires[node]
	ask, asked := cf.Surges[node]
	var at string
	switch {
	case retiring:
		at = "retire"
		if m.node(node) == nil { // gone from the group: kept for its member's removal
			m.Nodes = append(m.Nodes, NodeState{Name: node, NodeID: ret.NodeID, Voter: true, Status: NodeRetiring})
		}
	case surged != "":
		at = "join"
	case asked:
		at, st.surgeAsk = "surge", &ask
	default:
		return nil, nil
	}
	if m.node(node) == nil {
		return nil, fmt.Errorf("resume refused: %s's replacement was under way, but %s is no instance of group %s and was not retired by this run; check the group by hand", node, node, m.Plan.Cloud.Group.Name)
	}
	st.surged = surged
	d := m.define(st)
	for i, o := range d.Ops {
		switch o.(type) {
		case surgeOp:
			if at == "surge" {
				st.resumeAt = i
			} else if at == "join" {
				st.resumeAt = i + 1
			}
		case retireOp:
			if at == "retire" {
				st.resumeAt = i
			}
		}
	}
	if st.resumeAt == 0 {
		return nil, errors.New("resume: " + string(id) + " has no operation to go on from")
	}
	return st, nil
}

// cloudRollbackSteps: `nwroll rollback` (or a rollback a kill cut short)
// of a cloud run: the replacement cut short finished first, then the group
// back on its template version and every instance the run launched on the
// target replaced by one on the previous image, newest first.
func (m *Machine) cloudRollbackSteps(plan Plan, cf *CloudFacts, cut []StepState, mode resumeMode) (Machine, error) {
	var back []string
	for i := len(cf.LaunchOrder) - 1; i >= 0; i-- {
		if n := m.node(cf.LaunchOrder[i]); n != nil && m.replaced(*n) {
			back = append(back, n.Name)
		}
	}
	if len(back) == 0 && len(cut) == 0 {
		return Machine{}, errors.New("rollback: no instance launched by this rollout runs " + plan.Target.Label() + ": nothing to roll back")
	}
	steps := []StepState{{Step: Step{ID: StepIDFor(StepConnect, ""), Kind: StepConnect}}}
	steps = append(steps, cut...)
	steps = append(steps, StepState{Step: Step{ID: StepIDFor(StepPreCheck, ""), Kind: StepPreCheck}},
		StepState{Step: Step{ID: StepIDFor(StepGroupRevert, ""), Kind: StepGroupRevert}})
	for _, name := range back {
		steps = append(steps, StepState{Step: Step{ID: StepIDFor(StepReplaceBack, name), Kind: StepReplaceBack, Node: name}})
	}
	steps = append(steps, StepState{Step: Step{ID: StepIDFor(StepGroupValidate, ""), Kind: StepGroupValidate}},
		StepState{Step: Step{ID: StepIDFor(StepGroupThaw, ""), Kind: StepGroupThaw}})
	m.Steps = renumber(steps)
	m.successExit = ExitRolledBack
	if mode == resumeExplicitRollback {
		m.successExit, m.rollbackExit, m.undoRun = ExitOK, ExitOK, true
	}
	return *m, nil
}

func renumber(steps []StepState) []StepState {
	for i := range steps {
		steps[i].Index = i + 1
	}
	return steps
}
