package runbook

import (
	"fmt"
	"strings"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/health"
)

// The steps of an image-first rollout (cloud-rollout.md §2). The group's
// state is what the latest describe said (Machine.Group); the new
// instance of a replacement is the step's (StepState.surged).

// groupCheckStep: the group's pre-check, read-only; a failure refuses.
func groupCheckStep(c stepCtx) stepDef {
	g, t := c.m.group(), c.m.terms()
	hold := ""
	if t.Hold != "" {
		hold = "a " + t.Hold + "; "
	}
	return stepDef{Title: "Pre-check group " + g.Name, Phase: PhaseGroup, Refuses: true, Ops: []op{
		noteOp{
			"describe " + t.Group + " " + g.Name + ": its instances, " + t.Template + ", " + t.Movers + ", " + t.Refresh,
			"refuse unless: no instance pending or terminating and no " + t.Refresh + " running; max size ≥ desired + 1; " + hold +
				"image " + c.m.Plan.Cloud.Image.ID + " for " + c.m.Plan.Target.Label() + "; an explicit " + t.Template + " to return to; " +
				"every Raft member exactly one instance; at least 3 voters",
		},
		describeOp{check: true},
	}}
}

// groupPrepareStep: a template version launching the target image, the
// group pointed at it, its background movers suspended.
func groupPrepareStep(c stepCtx) stepDef {
	m, g := c.m, c.m.group()
	img := m.Plan.Cloud.Image
	d := stepDef{Title: fmt.Sprintf("Prepare group %s: %s → image %s (%s)", g.Name, m.fromTemplate(), img.ID, m.Plan.Target.Label()),
		Phase: PhaseGroup}
	d.Ops = []op{approveOp{}}
	if !m.templateReady() {
		d.Ops = append(d.Ops, newTemplateOp{}, setTemplateOp{})
	}
	if freeze := g.Movers; len(freeze) > 0 && len(m.frozen) == 0 {
		d.Ops = append(d.Ops, freezeOp{processes: freeze})
	}
	if len(d.Ops) == 1 {
		d.Skip = "group " + g.Name + " already launches image " + img.ID + " and its movers are suspended"
	}
	return d
}

// replaceStep: one node replaced: surge, join gate, retire, post gate.
func replaceStep(c stepCtx) stepDef {
	n := c.node
	target := c.want()
	phase, verb := PhaseFollowers, "Replace"
	if c.leads() {
		phase = PhaseLeader
	}
	d := stepDef{Phase: phase, Done: NodeRetired}
	if c.step.Kind == StepReplaceBack {
		phase, verb = PhaseRollback, "Roll back"
		d.Phase, d.OnDone = phase, func(m *Machine, s *StepState) { m.undid(n.Replaces) }
	}
	d.Title = fmt.Sprintf("%s %s (%s): %s → %s, surge then retire", verb, n.Name, c.role(), n.Binary.Label(), target.Label())
	switch {
	case n.Retired:
		d.Skip = n.Name + " is retired already"
		return d
	case n.Binary.Image == target.Image && c.step.surged == "":
		d.Skip = fmt.Sprintf("%s already runs image %s", n.Name, target.Image)
		d.SkipStatus = NodeOnTarget
		return d
	}
	d.Ops = []op{replaceQuorumOp{}, approveOp{}}
	if c.leads() {
		d.Ops = append(d.Ops, noteOp{fmt.Sprintf("expect an election when %s goes (502/503 on leader-proxied calls tolerated for %s)", n.Name, c.opts().ElectionWindow)})
	}
	if w := seedWarning(c.m); w != "" && c.step.surged == "" {
		d.Ops = append(d.Ops, noteOp{w})
	}
	d.Ops = append(d.Ops, surgeOp{}, joinGate(c))
	if c.m.group().LaunchingHook != nil {
		d.Ops = append(d.Ops, launchHookOp{})
	}
	d.Ops = append(d.Ops, retireOp{}, removeMemberOp{}, postGate(c))
	return d
}

// seedWarning says when a surge's instance will join through a follower:
// with no join_seed Neuwerk's new instance joins through the oldest
// instance of the group, and a join served by a follower may never add
// the joiner (cloud-rollout.md G5, an inference).
func seedWarning(m *Machine) string {
	oldest := m.oldestInstance()
	if oldest == "" || m.Leader == "" || oldest == m.Leader {
		return ""
	}
	return fmt.Sprintf("warning: the new instance will join through %s, the oldest instance, a follower (the leader is %s): "+
		"if Neuwerk adds a joiner only through the leader (cloud-rollout.md G5) it never becomes a voter, and the join gate fails", oldest, m.Leader)
}

// groupValidateStep: every instance on the target image and ready, the
// voters and the capacity back where they were.
func groupValidateStep(c stepCtx) stepDef {
	return stepDef{Title: "Validate", Phase: PhaseValidate, Ops: []op{
		describeOp{},
		gateOp{gate: func(c stepCtx) health.Gate {
			m := c.m
			var checks []health.Check
			var ids []string
			for _, n := range m.Nodes {
				if n.Retired {
					continue
				}
				ref := health.NodeRef{Name: n.Name, ID: n.NodeID}
				want := m.Plan.Target
				if m.undoRun {
					want = m.fromBuild()
				}
				checks = append(checks,
					health.NodeReady{Node: ref, Label: n.Name + " healthy"},
					health.ImageIs{Node: ref, Want: want.Image, WantLabel: want.Label()})
				ids = append(ids, n.NodeID)
			}
			checks = append(checks, health.ClusterOK{IDs: ids}, health.VoterCount{Want: m.Plan.Cloud.Size})
			return health.Gate{Name: "validate", Checks: checks, Timeout: m.Plan.Options.GateTimeout}
		}},
		sysdumpOp{purpose: SysdumpFinal},
	}}
}

// groupThawStep ends a cloud run: resume exactly what the prepare
// suspended. A run that unwinds (an abort, a rollback) first retires the
// instance it launched that replaced nothing, and points the group back at
// its template version when no node runs the target any more, so the
// group launches nothing it was not launching before; the abort's or the
// rollback's approval covers both.
func groupThawStep(c stepCtx) stepDef {
	m := c.m
	g := m.group()
	d := stepDef{Title: "Resume group " + g.Name + "'s movers", Phase: PhaseGroupEnd}
	if m.unwinding() {
		orphan := m.orphan()
		if orphan != "" {
			d.Node = orphan
			d.Title = "Retire " + orphan + " and resume group " + g.Name
			d.Ops = append(d.Ops, retireOp{}, removeMemberOp{})
		}
		if m.haveGroup && g.Template != m.Plan.Cloud.From && !m.targetLive(orphan) {
			d.Ops = append(d.Ops, setTemplateOp{back: true})
		}
		if len(d.Ops) > 0 {
			_, what, _ := m.unwindApproval()
			d.Ops = append(d.Ops, noteOp{"no approval of its own: " + what + " covers it"})
		}
	}
	if len(m.frozen) > 0 {
		d.Ops = append(d.Ops, thawOp{})
	}
	if len(d.Ops) == 0 {
		d.Skip = "nothing of group " + g.Name + " was suspended by this run"
	}
	return d
}

// orphan is an instance this run launched that replaced nothing, if any.
func (m *Machine) orphan() string {
	for _, s := range m.Steps {
		if y := m.orphanOf(s); y != "" {
			return y
		}
	}
	return ""
}

// targetLive: a node not retired (but for except) runs the target image.
func (m *Machine) targetLive(except string) bool {
	for _, n := range m.Nodes {
		if !n.Retired && n.Name != except && n.Binary.Image == m.Plan.Target.Image {
			return true
		}
	}
	return false
}

// joinGate: the new instance is healthy, all of /ready, a voter, caught
// up, on the target image, held for the window.
func joinGate(c stepCtx) gateOp {
	return gateOp{line: func(c stepCtx) string {
		who := c.step.surged
		if who == "" {
			who = "the new instance"
		}
		return fmt.Sprintf("join gate on %s: /health and all of /ready, a voter, caught up, image %s; held %s (timeout %s, then ask)",
			who, c.want().Image, c.opts().Window, c.opts().GateTimeout)
	}, explain: joinExplain, gate: func(c stepCtx) health.Gate {
		m, o := c.m, c.opts()
		n := m.node(c.step.surged)
		ref := health.NodeRef{Name: c.step.surged}
		if ref.Name == "" { // the plan's words, before the surge names it
			ref.Name = "the new instance"
		}
		if n != nil {
			ref.ID = n.NodeID
		}
		joining := func(make func(health.NodeRef) health.Check) health.Check {
			return health.Joining{Node: ref, Make: make}
		}
		want := c.want()
		checks := []health.Check{
			joining(func(r health.NodeRef) health.Check { return health.NodeReady{Node: r} }),
			joining(func(r health.NodeRef) health.Check { return health.MemberVoter{Node: r} }),
			joining(func(r health.NodeRef) health.Check { return health.NewStatsCaughtUp(r, 0) }),
			joining(func(r health.NodeRef) health.Check { return health.NewApplied(r, 0) }),
			health.ImageIs{Node: ref, Want: want.Image, WantLabel: want.Label()},
		}
		return health.Gate{Name: "join", Checks: checks, Hold: o.Window, Timeout: o.GateTimeout, Election: o.ElectionWindow}
	}}
}

// joinExplain names the likely cause when the new instance never became
// a voter: Neuwerk adds a joiner only through the leader (cloud-rollout.md
// G5), and a new instance joins through the oldest instance of the group.
func joinExplain(c stepCtx, g health.Gate) string {
	for _, r := range g.Results() {
		if r.Gate != health.GateVoter || r.OK {
			continue
		}
		why := fmt.Sprintf("likely cause: %s never became a voter. Neuwerk adds a joiner only when the node it joined through is the leader (cloud-rollout.md G5), "+
			"and with no join_seed a new instance joins through the oldest instance of the group", c.step.surged)
		if oldest := c.m.oldestInstance(); oldest != "" && oldest != c.m.Leader {
			why += fmt.Sprintf(" (%s, a follower; the leader is %s)", oldest, machOrNone(c.m.Leader))
		}
		return why + "; or the image's node cannot join: read its log (journalctl -u neuwerk)"
	}
	return ""
}

// oldestInstance is the group's instance launched first, not retiring.
func (m *Machine) oldestInstance() string {
	best := cloud.Instance{}
	for _, in := range m.group().Instances {
		if in.Lifecycle != cloud.InService {
			continue
		}
		if best.ID == "" || in.LaunchedAt.Before(best.LaunchedAt) {
			best = in
		}
	}
	return best.ID
}

// postGate: the old node gone from the members, the voters back to N,
// every live node ready and caught up, the leader stable; after the
// leader's retirement, a new leader first.
func postGate(c stepCtx) gateOp {
	old, leads := c.ref(), c.leads()
	return gateOp{line: func(c stepCtx) string {
		return fmt.Sprintf("settle gate: %s gone from the members, %d voters, every node ready and caught up, the leader stable; held %s",
			old.Name, c.m.Plan.Cloud.Size, c.opts().Window)
	}, gate: func(c stepCtx) health.Gate {
		m, o := c.m, c.opts()
		checks := []health.Check{health.MemberGone{Node: old}, health.VoterCount{Want: m.Plan.Cloud.Size}}
		if leads {
			checks = append(checks, health.NewLeaderElected{Stopped: old, AboveTerm: c.step.aboveTerm, Election: o.ElectionWindow})
		}
		checks = append(checks, health.LeaderSteady{})
		var ids []string
		for _, n := range m.Nodes {
			if !n.Retired {
				checks = append(checks, health.NodeReady{Node: health.NodeRef{Name: n.Name, ID: n.NodeID}, Label: n.Name + " healthy"})
				ids = append(ids, n.NodeID)
			}
		}
		checks = append(checks, health.ClusterOK{IDs: ids})
		return health.Gate{Name: "settle", Checks: checks, Hold: o.Window, Timeout: o.GateTimeout, Election: o.ElectionWindow}
	}}
}

// replaceArithmetic is the quorum arithmetic of replacing who.
func replaceArithmetic(who string, voters int) string {
	q := func(v int) string {
		return fmt.Sprintf("quorum %d, tolerates %d", health.Quorum(v), v-health.Quorum(v))
	}
	return fmt.Sprintf("replacing %s: voters %d (%s) → %d once the new instance joins (%s) → %d once %s is retired (%s)",
		who, voters, q(voters), voters+1, q(voters+1), voters, who, q(voters))
}

// fromTemplate is the group's template version before this run.
func (m *Machine) fromTemplate() string {
	return m.Plan.Cloud.From.String()
}

// templateReady: the group launches the target image from an explicit
// template version already (a resumed run, or a retry).
func (m *Machine) templateReady() bool {
	return m.newTemplate.Version != "" && m.group().Template == m.newTemplate
}

// group is the group as last described (the plan's before any describe).
func (m *Machine) group() cloud.Group {
	if m.haveGroup {
		return m.Group
	}
	return m.Plan.Cloud.Group
}

// liveNames are the nodes not retired, in order: what is polled.
func (m *Machine) liveNames() []string {
	var out []string
	for _, n := range m.Nodes {
		if !n.Retired {
			out = append(out, n.Name)
		}
	}
	return out
}

// listOf joins names for a line.
func listOf(names []string) string { return strings.Join(names, ", ") }

// ---- rollback ----

// unsurgeStep retires an instance this run launched that replaced
// nothing (its join gate failed, or the run was aborted before the old
// one went): the group and the membership back to N.
func unsurgeStep(c stepCtx) stepDef {
	n := c.node
	d := stepDef{Title: fmt.Sprintf("Retire %s, launched to replace %s: it never replaced it", n.Name, n.Replaces),
		Phase: PhaseRollback, Done: NodeRetired, OnDone: func(m *Machine, s *StepState) { m.undid(n.Replaces) }}
	if n.Retired {
		d.Skip = n.Name + " is retired already"
		return d
	}
	d.Ops = []op{approveOp{}, retireOp{}, removeMemberOp{}, gateOp{gate: func(c stepCtx) health.Gate {
		return health.Gate{Name: "settle", Checks: append(liveChecks(c.m), health.VoterCount{Want: c.m.Plan.Cloud.Size}),
			Hold: c.opts().Window, Timeout: c.opts().GateTimeout, Election: c.opts().ElectionWindow}
	}}}
	return d
}

// groupRevertStep points the group back at the template version it had
// before the run, by number.
func groupRevertStep(c stepCtx) stepDef {
	m := c.m
	from := m.Plan.Cloud.From
	d := stepDef{Title: fmt.Sprintf("Point group %s back at %s (image %s, %s)", m.group().Name, from, m.Plan.Cloud.FromImage, m.fromBuild().Label()),
		Phase: PhaseRollback}
	if m.group().Template != from {
		d.Ops = append(d.Ops, setTemplateOp{back: true})
	}
	if freeze := m.group().Movers; len(freeze) > 0 {
		d.Ops = append(d.Ops, freezeOp{processes: freeze})
	}
	if len(d.Ops) == 0 {
		d.Skip = "group " + m.group().Name + " launches " + from.String() + " already, its movers suspended"
		return d
	}
	d.Ops = append([]op{approveOp{}}, d.Ops...)
	return d
}

// liveChecks: every node not retired ready, and the cluster healthy with
// exactly them as members.
func liveChecks(m *Machine) []health.Check {
	var refs []health.NodeRef
	for _, n := range m.Nodes {
		if !n.Retired {
			refs = append(refs, health.NodeRef{Name: n.Name, ID: n.NodeID})
		}
	}
	return health.PreCheck(refs)
}

// fromBuild is what the nodes ran before the run: the previous image.
func (m *Machine) fromBuild() BuildRef {
	b := BuildRef{Image: m.Plan.Cloud.FromImage, Version: m.Plan.Cloud.FromRelease}
	for _, n := range m.Plan.Nodes {
		if n.Current.Image == b.Image && n.Current.Version != "" && b.Version == "" {
			b.Version = n.Current.Version
		}
	}
	return b
}

// want is the build the step's replacement launches: the target, or for
// a rollback the previous image.
func (c stepCtx) want() BuildRef {
	if c.step.Kind == StepReplaceBack {
		return c.m.fromBuild()
	}
	return c.m.Plan.Target
}

// replaced: n is a live node this run launched on the target image (what
// a rollback of everything replaces again).
func (m *Machine) replaced(n NodeState) bool {
	return m.Plan.Cloud != nil && n.Launched && !n.Retired && n.Binary.Image == m.Plan.Target.Image
}

// orphanOf is the instance step s launched that replaced nothing yet.
func (m *Machine) orphanOf(s StepState) string {
	if s.surged == "" {
		return ""
	}
	y, x := m.node(s.surged), m.node(s.Node)
	if y == nil || y.Retired || x == nil || x.Retired {
		return ""
	}
	return s.surged
}

// startCloudRollback: the failing step's orphan retired; with all, the
// group back on its template version, then every node this run launched
// replaced by one on the previous image, newest first.
func (m *Machine) startCloudRollback(all bool) {
	var steps []Step
	var what []string
	orphan := ""
	if m.Pause != nil && m.Pause.Kind == PauseFailure && m.Failure != nil {
		if s, ok := m.StepByID(m.Failure.Step); ok {
			orphan = m.orphanOf(s)
		}
	}
	if orphan != "" {
		steps = append(steps, Step{Kind: StepUnsurge, Node: orphan})
		what = append(what, "retire "+orphan)
	}
	if all {
		steps = append(steps, Step{Kind: StepGroupRevert})
		what = append(what, "group "+m.group().Name+" back on "+m.Plan.Cloud.From.String())
		for i := len(m.Nodes) - 1; i >= 0; i-- {
			if n := m.Nodes[i]; m.replaced(n) && n.Name != orphan {
				steps = append(steps, Step{Kind: StepReplaceBack, Node: n.Name})
				what = append(what, "replace "+n.Name)
			}
		}
	}
	m.insertRollback(steps, all, strings.Join(what, ", "))
}

// undid notes that the replacement of node was undone.
func (m *Machine) undid(node string) {
	m.RolledBack = append(m.RolledBack, node)
	for i := range m.Steps {
		u := &m.Steps[i]
		if u.Kind == StepReplace && u.Node == node && (u.Status == StatusDone || u.Status == StatusFailed) {
			u.Status = StatusRolledBack
		}
	}
}
