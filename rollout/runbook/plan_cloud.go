package runbook

import (
	"fmt"
	"strings"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/health"
)

// CloudPlan is the image-first part of a plan (cloud-rollout.md §2): the
// group as the plan described it, the target release's image, and the
// template version the group launches now, which a rollback returns to.
type CloudPlan struct {
	Provider string // "aws"
	Group    cloud.Group
	Image    cloud.Image // tagged cloud.ReleaseTag=<target release>
	// From is the template version the group launched before the run (a
	// rollback returns to it), launching FromImage, release FromRelease
	// ("" when no known release's); zero From takes Group's.
	From        cloud.TemplateRef
	FromImage   string
	FromRelease string
	// Size is the number of voters the cluster keeps (N): every
	// replacement goes to N+1 and back. 0 takes the plan's node count.
	Size int
}

// warnings are what the group's pre-check will refuse, seen at planning.
func (c *CloudPlan) warnings(p Plan) []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, why := range groupRefusals(cloud.TermsOf(c.Provider), c.Group, c.Image, p.Members, p.Options) {
		out = append(out, why+": the group's pre-check will refuse")
	}
	return out
}

// terms are the plan's provider's words.
func (m *Machine) terms() cloud.Terms { return cloud.TermsOf(m.Plan.Cloud.Provider) }

// groupRefusals are why the group cannot be rolled now (the issue's
// preflight): each names the cause and the fix.
func groupRefusals(t cloud.Terms, g cloud.Group, image cloud.Image, members []health.Member, o PlanOptions) []string {
	var out []string
	if ok, why := g.Stable(); !ok {
		out = append(out, "group "+g.Name+" is not stable: "+why+"; wait until it settles")
	}
	if g.Max < g.Desired+1 {
		out = append(out, fmt.Sprintf("group %s has no room to surge: max size %d, desired %d; raise its max size to %d", g.Name, g.Max, g.Desired, g.Desired+1))
	}
	out = append(out, g.Problems...)
	if h := g.LaunchingHook; h != nil && h.HeartbeatTimeout < o.GateTimeout+o.Window {
		out = append(out, fmt.Sprintf("group %s's launching hook %s gives a new instance %s before it %ss, less than the join gate's timeout and window (%s): raise its heartbeat timeout to at least %s",
			g.Name, h.Name, h.HeartbeatTimeout, strings.ToLower(h.DefaultResult), o.GateTimeout+o.Window, o.GateTimeout+o.Window))
	}
	if image.ID == "" {
		out = append(out, "no image is "+fmt.Sprintf(t.Tagged, image.Release))
	}
	out = append(out, membershipRefusals(g, members)...)
	if v := health.CountVoters(members); v < health.MinVoters {
		out = append(out, fmt.Sprintf("only %d voter(s): a replacement needs at least %d", v, health.MinVoters))
	}
	return out
}

// membershipRefusals: every Raft member maps to exactly one instance of
// the group by address, and every instance to a member.
func membershipRefusals(g cloud.Group, members []health.Member) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range members {
		host := hostOf(m.Addr)
		var ids []string
		for _, in := range g.Instances {
			if in.PrivateIP == host {
				ids = append(ids, in.ID)
			}
		}
		seen[host] = true
		switch len(ids) {
		case 0:
			out = append(out, fmt.Sprintf("Raft member %s (%s) is no instance of group %s; remove it or add it to the group", m.NodeID, m.Addr, g.Name))
		case 1:
		default:
			out = append(out, fmt.Sprintf("Raft member %s (%s) matches %d instances (%s)", m.NodeID, m.Addr, len(ids), strings.Join(ids, ", ")))
		}
	}
	for _, in := range g.Instances {
		if !seen[in.PrivateIP] {
			out = append(out, fmt.Sprintf("instance %s (%s) of group %s is no Raft member", in.ID, in.PrivateIP, g.Name))
		}
	}
	return out
}

// hostOf is the host of host:port (an IPv6 host in brackets), or s.
func hostOf(s string) string {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
		return s
	}
	return strings.TrimSuffix(strings.TrimPrefix(s[:i], "["), "]")
}

// cloudRunbook lays out an image-first rollout: connect (token, CA, node
// ids), the cluster's and the group's pre-checks, the group prepared
// (template, frozen movers), one replacement per node, followers first and
// the leader last, validation and the group thawed.
func cloudRunbook(p Plan, order []PlanNode) []Step {
	var steps []Step
	add := func(kind StepKind, node string) {
		steps = append(steps, Step{ID: StepIDFor(kind, node), Index: len(steps) + 1, Kind: kind, Node: node})
	}
	add(StepConnect, "")
	add(StepPreCheck, "")
	if p.Options.Observe {
		add(StepObserve, "")
		add(StepGroupValidate, "")
		add(StepObserveEnd, "")
		return steps
	}
	add(StepGroupCheck, "")
	add(StepGroupPrepare, "")
	for _, n := range order {
		add(StepReplace, n.Name)
	}
	add(StepGroupValidate, "")
	add(StepGroupThaw, "")
	return withPauses(steps, p.Options.PauseBefore)
}
