package runbook

import (
	"fmt"
	"time"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/health"
)

// Observe mode (--observe): the operator starts the group's own rolling
// replacement (an ASG instance refresh) and nwroll watches it with its
// gates: the cluster keeps a leader (an election is tolerated for the
// election window) and a failure tolerance of at least one, every sample,
// until the refresh succeeds. A failure pauses as any other, and the run's
// end (an abort) cancels the refresh: one key.

// observeEvery is how often the group is described while watching.
const observeEvery = 2 * time.Second

// observeStep: wait for the operator's refresh to start, then watch it.
func observeStep(c stepCtx) stepDef {
	g, t := c.m.group(), c.m.terms()
	return stepDef{Title: "Watch group " + g.Name + "'s " + t.Refresh, Phase: PhaseFollowers, Ops: []op{
		noteOp{
			fmt.Sprintf("start the %s yourself (%s); nwroll waits up to %s for it", t.Refresh, fmt.Sprintf(t.StartRefresh, g.Name), c.opts().GateTimeout),
			fmt.Sprintf("describe the group every %s; poll every instance it launches as a node", observeEvery),
			"on a failure: pause; an abort cancels the " + t.Refresh + " (" + t.CancelRefresh + ")",
		},
		watchOp{},
	}}
}

// observeEndStep ends an observe run: an abort or a failure that ends
// the run cancels a refresh still running.
func observeEndStep(c stepCtx) stepDef {
	d := stepDef{Title: "Cancel group " + c.m.group().Name + "'s " + c.m.terms().Refresh, Phase: PhaseGroupEnd}
	if r := c.m.group().Refresh; !c.m.unwinding() || r == nil || !r.Active() {
		d.Skip = "no " + c.m.terms().Refresh + " to cancel"
		return d
	}
	_, what, _ := c.m.unwindApproval()
	d.Ops = []op{cancelRefreshOp{}, noteOp{"no approval of its own: " + what + " covers it"}}
	return d
}

// watchOp describes the group and polls the cluster until the refresh
// ends; its gate is strict: a check that fails once it held fails it.
type watchOp struct{}

func (watchOp) changes() bool          { return false }
func (watchOp) lines(stepCtx) []string { return nil }
func (watchOp) enter(m *Machine, c stepCtx) {
	o := c.opts()
	g := health.Gate{Name: "observe", Checks: []health.Check{health.Tolerance{Min: 1}},
		Hold: 1000 * time.Hour, Timeout: o.GateTimeout, Strict: true, StrictElections: true, Election: o.ElectionWindow}
	m.openGate(c, g, m.Now)
	m.describeNow(c)
	m.pollNow()
}
func (watchOp) snapshot(m *Machine, c stepCtx, snap health.ClusterSnapshot) {
	m.Gate.Gate = m.Gate.Gate.Observe(m.sample(snap))
	m.afterGate(c, nil)
	if c.step.refreshDone && !c.step.done && m.Pause == nil && m.Gate.AllHold() {
		m.gatePassed(c, m.terms().Refresh+" "+c.step.refresh+" succeeded, and the cluster holds")
		c.step.done = true
	}
}
func (watchOp) tick(m *Machine, c stepCtx) {
	m.tickGate(c)
	if c.step.pending == 0 && m.Now.Sub(c.step.opAt) >= 0 && (c.step.describedAt.IsZero() || m.Now.Sub(c.step.describedAt) >= observeEvery) {
		m.describeNow(c)
	}
}
func (watchOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	c.step.pending--
	if e.Err != nil {
		m.LastError = "describe: " + e.Err.Error() // the next describe may answer
		return
	}
	g, _ := e.Data.(cloud.Group)
	m.observeGroup(g)
	m.trackInstances(g)
	r := g.Refresh
	switch {
	case r == nil || (!r.Active() && c.step.refresh == ""):
		if m.Now.Sub(c.step.opAt) > c.opts().GateTimeout {
			m.fail(FailTimeout, "observe", fmt.Sprintf("no %s started on group %s within %s: start one, or run without --observe", m.terms().Refresh, g.Name, c.opts().GateTimeout))
		}
	case r.Active():
		if c.step.refresh != r.ID {
			c.step.refresh = r.ID
			m.record(RecordEvent, c.step.ID, "", "refresh-seen", fmt.Sprintf("%s %s is %s (%d%%)", m.terms().Refresh, r.ID, r.Status, r.PercentComplete), nil)
		}
	case r.ID == c.step.refresh && r.Status == "Successful":
		// Done on the next sample where every check holds: a refresh that
		// succeeded may still have left the cluster short (G4).
		c.step.refreshDone = true
		m.pollNow()
	case r.ID == c.step.refresh:
		m.fail(FailEffect, "observe", fmt.Sprintf("%s %s ended %s: %s", m.terms().Refresh, r.ID, r.Status, orNone(r.Reason)))
	}
}

// describeNow launches a describe for the watching step.
func (m *Machine) describeNow(c stepCtx) {
	c.step.pending++
	c.step.describedAt = m.Now
	m.launch(CloudDescribe{EffectMeta: m.meta(c.step.ID), Track: true}, purposeOp)
}

// trackInstances makes every instance of the group a node, and a node
// whose instance is gone retired: what a native refresh launches and
// terminates is polled and shown.
func (m *Machine) trackInstances(g cloud.Group) {
	for _, in := range g.Instances {
		if in.PrivateIP != "" && in.Lifecycle != cloud.Terminated && m.node(in.ID) == nil {
			m.addInstance(in, "")
		}
	}
	for i := range m.Nodes {
		n := &m.Nodes[i]
		if _, ok := g.Instance(n.Name); !ok && !n.Retired {
			n.Retired = true
			m.setNode(n, NodeRetired)
		}
	}
}

// cancelRefreshOp cancels the group's refresh.
type cancelRefreshOp struct{}

func (cancelRefreshOp) changes() bool { return true }
func (cancelRefreshOp) lines(c stepCtx) []string {
	return []string{"cancel the " + c.m.terms().Refresh + " of group " + c.m.group().Name + ": " + c.m.terms().CancelRefresh + " (instances replaced so far stay)"}
}
func (cancelRefreshOp) enter(m *Machine, c stepCtx) {
	m.launch(CloudCancelRefresh{EffectMeta: m.meta(c.step.ID)}, purposeOp)
}

func orNone(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}
