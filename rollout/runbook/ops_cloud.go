package runbook

import (
	"fmt"
	"slices"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/health"
)

// The operations of an image-first rollout: one provider call each (or
// one API call), the group's state taken from each answer.

// describeOp reads the group; with check, it refuses the run when the
// group cannot be rolled now (groupRefusals).
type describeOp struct{ check bool }

func (describeOp) changes() bool          { return false }
func (describeOp) lines(stepCtx) []string { return nil }
func (describeOp) enter(m *Machine, c stepCtx) {
	m.launch(CloudDescribe{EffectMeta: m.meta(c.step.ID)}, purposeOp)
}
func (o describeOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	if e.Err != nil {
		m.opFailed(c, f, e)
		return
	}
	g, _ := e.Data.(cloud.Group)
	m.observeGroup(g)
	if o.check {
		members := m.Plan.Members
		if m.HaveSnapshot && m.Latest.Members != nil {
			members = m.Latest.Members.Members
		}
		if why := groupRefusals(m.terms(), g, m.Plan.Cloud.Image, members, m.Plan.Options); len(why) > 0 {
			m.refuse(why[0])
			return
		}
	}
	c.step.done = true
}

// observeGroup takes a describe as the group's state now: each node's
// image and address, and which nodes are gone from the group.
func (m *Machine) observeGroup(g cloud.Group) {
	m.Group, m.haveGroup = g, true
	for i := range m.Nodes {
		n := &m.Nodes[i]
		in, ok := g.Instance(n.Name)
		if !ok {
			continue
		}
		n.Binary.Image, n.BinaryAt = in.ImageID, m.Now
		if n.Binary.Image == m.Plan.Target.Image {
			n.Binary.Version = m.Plan.Target.Version
		}
	}
}

// newTemplateOp makes the template version that launches the target image.
type newTemplateOp struct{}

func (newTemplateOp) changes() bool { return true }
func (newTemplateOp) lines(c stepCtx) []string {
	return []string{fmt.Sprintf(c.m.terms().NewTemplate, c.m.fromTemplate(), c.m.Plan.Cloud.Image.ID)}
}
func (newTemplateOp) enter(m *Machine, c stepCtx) {
	m.launch(CloudNewTemplate{EffectMeta: m.meta(c.step.ID), Base: m.Plan.Cloud.From, Image: m.Plan.Cloud.Image}, purposeOp)
}
func (newTemplateOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	if e.Err != nil {
		m.opFailed(c, f, e)
		return
	}
	m.newTemplate, _ = e.Data.(cloud.TemplateRef)
	c.step.done = true
}

// setTemplateOp points the group at the new version, explicitly.
type setTemplateOp struct{ back bool }

func (o setTemplateOp) changes() bool { return true }
func (o setTemplateOp) lines(c stepCtx) []string {
	if o.back {
		return []string{"point group " + c.m.group().Name + " at " + c.m.Plan.Cloud.From.String() + ", " + c.m.terms().Pin + "; instances running now are untouched"}
	}
	return []string{"point group " + c.m.group().Name + " at the new " + c.m.terms().Template + ", " + c.m.terms().Pin + "; instances running now are untouched"}
}
func (o setTemplateOp) template(m *Machine) cloud.TemplateRef {
	if o.back {
		return m.Plan.Cloud.From
	}
	return m.newTemplate
}
func (o setTemplateOp) enter(m *Machine, c stepCtx) {
	m.launch(CloudSetTemplate{EffectMeta: m.meta(c.step.ID), Template: o.template(m)}, purposeOp)
}
func (o setTemplateOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	if e.Err != nil {
		m.opFailed(c, f, e)
		return
	}
	m.Group.Template = o.template(m)
	c.step.done = true
}

// freezeOp suspends the group's movers that are not suspended already.
type freezeOp struct{ processes []string }

func (freezeOp) changes() bool { return true }
func (o freezeOp) lines(c stepCtx) []string {
	return []string{"suspend " + listOf(o.processes) + " on group " + c.m.group().Name + " until the rollout ends (resumed at the end, on abort and on resume)"}
}
func (o freezeOp) enter(m *Machine, c stepCtx) {
	m.frozen = appendNew(m.frozen, o.processes...) // before the call: its intent is the record of what to resume
	m.launch(CloudFreeze{EffectMeta: m.meta(c.step.ID), Processes: o.processes}, purposeOp)
}

func appendNew(list []string, add ...string) []string {
	out := slices.Clone(list)
	for _, s := range add {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// thawOp resumes what freezeOp suspended.
type thawOp struct{}

func (thawOp) changes() bool { return true }
func (thawOp) lines(c stepCtx) []string {
	return []string{"resume " + listOf(c.m.frozen) + " on group " + c.m.group().Name + " (only what this run suspended)"}
}
func (thawOp) enter(m *Machine, c stepCtx) {
	m.launch(CloudThaw{EffectMeta: m.meta(c.step.ID), Processes: m.frozen}, purposeOp)
}
func (thawOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	if e.Err != nil {
		m.opFailed(c, f, e)
		return
	}
	m.frozen = nil
	c.step.done = true
}

// replaceQuorumOp: before the surge, every live node ready, the cluster
// healthy and exactly N voters, on a fresh snapshot; its arithmetic is
// the replacement's. It records whether the node leads.
type replaceQuorumOp struct{}

func (replaceQuorumOp) changes() bool          { return false }
func (replaceQuorumOp) lines(stepCtx) []string { return nil }
func (replaceQuorumOp) arithmetic(c stepCtx) string {
	return replaceArithmetic(c.node.Name, c.m.Plan.Cloud.Size)
}
func (o replaceQuorumOp) enter(m *Machine, c stepCtx) {
	checks := append(liveChecks(m), health.VoterCount{Want: m.Plan.Cloud.Size})
	m.openFresh(c, health.Gate{Name: GateQuorum, Checks: checks, Timeout: m.Plan.Options.GateTimeout}, o.snapshot)
}
func (replaceQuorumOp) snapshot(m *Machine, c stepCtx, snap health.ClusterSnapshot) {
	if m.judgeFresh(c, snap) {
		c.step.done = true
	}
}
func (replaceQuorumOp) tick(m *Machine, c stepCtx) { m.tickGate(c) }

// surgeOp raises the desired capacity by one and takes the one new
// instance as a node of the run.
type surgeOp struct{}

func (surgeOp) changes() bool { return true }
func (surgeOp) lines(c stepCtx) []string {
	n := c.m.Plan.Cloud.Size
	return []string{fmt.Sprintf("surge: desired capacity %d → %d (no cooldown); journal the request, then the new instance's id", n, n+1),
		"wait for the new instance to run, on image " + c.want().Image}
}
func (surgeOp) enter(m *Machine, c stepCtx) {
	if c.step.surged != "" { // a retry after the instance came
		c.step.done = true
		return
	}
	g := m.group()
	e := CloudSurge{EffectMeta: m.meta(c.step.ID), Desired: m.Plan.Cloud.Size + 1} // absolute: N+1, however often asked
	for _, in := range g.Instances {
		e.Before = append(e.Before, in.ID)
	}
	if a := c.step.surgeAsk; a != nil { // resumed: the same surge again, which finds the same instance
		e.Desired, e.Before = a.Desired, a.Before
	}
	m.setNode(c.node, NodeSurging)
	m.launch(e, purposeOp)
}
func (surgeOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	if e.Err != nil {
		m.opFailed(c, f, e)
		return
	}
	in, _ := e.Data.(cloud.Instance)
	m.addInstance(in, c.node.Name)
	c.step.surged, c.step.surgeAsk = in.ID, nil
	m.Group.Desired = m.Plan.Cloud.Size + 1
	m.record(RecordEvent, c.step.ID, in.ID, "surged", fmt.Sprintf("instance %s (%s) launched from image %s to replace %s", in.ID, in.PrivateIP, in.ImageID, c.node.Name), nil)
	c.step.done = true
}

// addInstance makes a new instance a node of the run.
func (m *Machine) addInstance(in cloud.Instance, replaces string) {
	if m.node(in.ID) != nil {
		return
	}
	b := BuildRef{Image: in.ImageID}
	if in.ImageID == m.Plan.Target.Image {
		b.Version = m.Plan.Target.Version
	}
	m.Nodes = append(m.Nodes, NodeState{Name: in.ID, Binary: b, BinaryAt: m.Now, Previous: b, Launched: true, Replaces: replaces, Addr: in.PrivateIP})
	m.setNode(&m.Nodes[len(m.Nodes)-1], NodeJoining)
}

// launchHookOp answers the group's launching hook for the new instance
// once its join gate passed (cloud-rollout.md §2): only then does the
// group count it in service. A failed join leaves the hook unanswered and
// the instance is retired again.
type launchHookOp struct{}

func (launchHookOp) changes() bool { return true }
func (launchHookOp) lines(c stepCtx) []string {
	h := c.m.group().LaunchingHook
	return []string{fmt.Sprintf("answer launching hook %s for the new instance: CONTINUE (it holds it for %s without an answer, then %s)",
		h.Name, h.HeartbeatTimeout, h.DefaultResult)}
}
func (launchHookOp) enter(m *Machine, c stepCtx) {
	if y := m.node(c.step.surged); y != nil {
		m.launch(CloudCompleteLaunch{EffectMeta: m.meta(c.step.ID), Node: y.Name, Instance: y.Name}, purposeOp)
		return
	}
	c.step.done = true
}
func (launchHookOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	if e.Err != nil {
		m.opFailed(c, f, e)
		return
	}
	m.record(RecordEvent, c.step.ID, c.step.surged, "launch-completed", "launching hook answered CONTINUE for "+c.step.surged, nil)
	c.step.done = true
}

// retireOp terminates the old instance with a capacity decrement and
// waits until the provider says it is terminated.
type retireOp struct{}

func (retireOp) changes() bool { return true }
func (retireOp) lines(c stepCtx) []string {
	out := []string{"retire " + c.node.Name + ": terminate exactly it, decrementing the desired capacity; wait until the provider says it is terminated"}
	if c.leads() {
		return append(out, "Neuwerk never evicts the leader itself: expect an election")
	}
	return append(out, c.m.terms().DrainedLine(c.node.Name))
}
func (retireOp) enter(m *Machine, c stepCtx) {
	if y := m.node(c.step.surged); y != nil && c.step.surged != c.node.Name {
		m.setNode(y, NodeUpgraded) // its join gate passed
	}
	m.setNode(c.node, NodeRetiring)
	m.launch(CloudRetire{EffectMeta: m.meta(c.step.ID), Node: c.node.Name, Instance: c.node.Name, NeverJoined: c.node.Launched && c.node.NodeID == ""}, purposeOp)
}
func (retireOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	if e.Err != nil {
		m.opFailed(c, f, e)
		return
	}
	c.node.Retired = true
	m.setNode(c.node, NodeRetired)
	if g, ok := e.Data.(cloud.Group); ok {
		m.observeGroup(g)
		if n := m.Plan.Cloud.Size + len(m.pendingLaunches(c)); g.Desired != n {
			m.fail(FailEffect, f.kind, fmt.Sprintf("group %s's desired capacity is %d after retiring %s, not %d: something else changed it; check its scaling activities", g.Name, g.Desired, c.node.Name, n))
			return
		}
	}
	c.step.done = true
}

// pendingLaunches are the instances launched that replaced nothing yet,
// other than the step's own node (retiring an orphan leaves N).
func (m *Machine) pendingLaunches(c stepCtx) []string {
	var out []string
	for _, s := range m.Steps {
		if y := m.orphanOf(s); y != "" && y != c.node.Name {
			out = append(out, y)
		}
	}
	return out
}

// removeMemberOp removes the retired node's member when Neuwerk did not
// (the leader never evicts itself): only once the provider confirmed the
// instance terminated, through the new leader.
type removeMemberOp struct{}

func (removeMemberOp) changes() bool { return true }
func (removeMemberOp) lines(c stepCtx) []string {
	return []string{"if " + c.node.Name + " is still a Raft member once terminated, remove it: POST /api/v1/cluster/members/" + c.node.NodeID + "/remove on the new leader"}
}
func (removeMemberOp) enter(m *Machine, c stepCtx) {
	m.removeAt = m.Now
	m.pollNow()
}
func (removeMemberOp) snapshot(m *Machine, c stepCtx, snap health.ClusterSnapshot) {
	if c.step.pending > 0 || snap.TakenAt.Before(m.removeAt) {
		return
	}
	if snap.Members == nil {
		return // an election: wait for the next
	}
	if _, ok := snap.Member(c.node.NodeID); !ok {
		c.step.done = true
		return
	}
	c.step.pending++
	m.launch(RemoveMember{EffectMeta: m.meta(c.step.ID), Node: c.node.Name, NodeID: c.node.NodeID}, purposeOp)
}
func (removeMemberOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	c.step.pending--
	if e.Err != nil {
		m.opFailed(c, f, e)
		return
	}
	m.record(RecordEvent, c.step.ID, c.node.Name, "member-removed", c.node.Name+" (id "+c.node.NodeID+") removed from the Raft membership", nil)
	c.step.done = true
}
func (removeMemberOp) tick(m *Machine, c stepCtx) {
	if c.step.pending == 0 && m.pollID == 0 {
		m.pollNow()
	}
}
