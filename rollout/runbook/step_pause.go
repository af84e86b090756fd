package runbook

import (
	"fmt"
	"slices"

	"github.com/nwroll/nwroll/cloud"
)

// Pause before a node's upgrade (--pause-before NODE, or leader). In the
// console it is a step like any other: it waits for y. A headless run
// (--yes) stops there instead, every node running and the lock kept, and
// exits 5 (ExitPaused); `nwroll resume` is the approval and goes on with
// the upgrade after it. The runbook keeps the leader last, so the leader's
// pause sits before the last upgrade left; a pause follows its node when
// leadership reorders the upgrades (placePauses).

// PauseLeader is the --pause-before value that names the leader, whoever
// it is when its turn comes.
const PauseLeader = "leader"

var (
	pauseKinds   = []StepKind{StepPauseNode, StepPauseLeader}
	upgradeKinds = []StepKind{StepUpgrade, StepReplace}
)

func pauseStep(c stepCtx) stepDef {
	m, s := c.m, c.step
	flag := "--pause-before " + s.Node
	if s.Kind == StepPauseLeader {
		flag = "--pause-before " + PauseLeader
	}
	verb, noun := "upgrading", "upgrade"
	if m.Plan.Cloud != nil {
		verb, noun = "replacing", "replacement"
	}
	target := m.pauseTarget(s)
	d := stepDef{Phase: PhaseFollowers, Title: "Pause (" + flag + ")"}
	switch {
	case s.Kind == StepPauseNode && (target == nil || target.Name != s.Node):
		d.Title = fmt.Sprintf("Pause before %s %s (%s)", verb, s.Node, flag)
		d.Skip = s.Node + "'s " + noun + " is not ahead: it ran or was skipped"
		return d
	case target == nil:
		d.Skip = "no " + noun + " is left to pause before"
		return d
	case s.Kind == StepPauseLeader && m.Leader != "" && target.Name != m.Leader:
		d.Skip = "the leader " + m.Leader + " is not ahead: it ran or was skipped"
		return d
	}
	role := "follower"
	if target.Name == m.Leader {
		role, d.Phase = "leader", PhaseLeader
	}
	d.Title = fmt.Sprintf("Pause before %s %s (%s)", verb, target.Name, role)
	d.Node = target.Name
	if s.Kind == StepPauseLeader && slices.ContainsFunc(m.Steps, func(o StepState) bool { return o.Kind == StepPauseNode && o.Node == target.Name }) {
		d.Skip = "the pause before " + target.Name + " (--pause-before " + target.Name + ") holds the run there"
		return d
	}
	lines := noteOp{
		"hold the run here (" + flag + "): " + verb + " " + target.Name + " comes next",
		"in the console: wait for y; with --yes: stop here, every node running and the lock kept, exit 5; `nwroll resume` goes on",
	}
	if c := m.Plan.Cloud; c != nil {
		t := cloud.TermsOf(c.Provider)
		lines = append(lines, "while the run waits, "+t.Group+" "+c.Group.Name+"'s "+t.Movers+" stay as the prepare left them, until the run goes on or is rolled back")
	}
	d.Ops = []op{lines, approveOp{pause: true}}
	return d
}

// pauseTarget is the node whose upgrade a pause step precedes: the first
// upgrade left after it in the runbook.
func (m *Machine) pauseTarget(s *StepState) *NodeState {
	at := slices.IndexFunc(m.Steps, func(o StepState) bool { return o.ID == s.ID })
	for i := at + 1; at >= 0 && i < len(m.Steps); i++ {
		if o := m.Steps[i]; slices.Contains(upgradeKinds, o.Kind) && o.Status == StatusPending {
			return m.node(o.Node)
		}
	}
	return nil
}

// withPauses puts the plan's pauses into a runbook laid out in upgrade
// order: each node's before its upgrade, the leader's before the last.
func withPauses(steps []Step, pauses []string) []Step {
	if len(pauses) == 0 {
		return steps
	}
	last := -1
	for i, s := range steps {
		if slices.Contains(upgradeKinds, s.Kind) {
			last = i
		}
	}
	var out []Step
	for i, s := range steps {
		if slices.Contains(upgradeKinds, s.Kind) {
			if slices.Contains(pauses, s.Node) {
				out = append(out, Step{ID: StepIDFor(StepPauseNode, s.Node), Kind: StepPauseNode, Node: s.Node})
			}
			if i == last && slices.Contains(pauses, PauseLeader) {
				out = append(out, Step{ID: StepIDFor(StepPauseLeader, ""), Kind: StepPauseLeader})
			}
		}
		out = append(out, s)
	}
	for i := range out {
		out[i].Index = i + 1
	}
	return out
}

// placePauses moves each pending pause back before its upgrade after the
// leader reordered them: a node's pause before that node's upgrade, the
// leader's before the last upgrade left. The current step stays current.
func (m *Machine) placePauses() {
	var moving []StepState
	var rest []StepState
	for _, s := range m.Steps {
		if slices.Contains(pauseKinds, s.Kind) && s.Status == StatusPending && m.pauseSlot(s) >= 0 {
			moving = append(moving, s)
			continue
		}
		rest = append(rest, s)
	}
	if len(moving) == 0 {
		return
	}
	cur := m.curID()
	m.Steps = rest
	for _, p := range moving {
		at := m.pauseSlot(p)
		m.Steps = slices.Insert(m.Steps, at, p)
	}
	if cur != "" {
		m.cur = slices.IndexFunc(m.Steps, func(s StepState) bool { return s.ID == cur })
	}
}

// pauseSlot is the index of the pending upgrade a pause goes before, or -1.
func (m *Machine) pauseSlot(p StepState) int {
	at := -1
	for i, s := range m.Steps {
		if slices.Contains(upgradeKinds, s.Kind) && s.Status == StatusPending && (p.Kind == StepPauseLeader || s.Node == p.Node) {
			at = i // the leader's: the last left
		}
	}
	return at
}
