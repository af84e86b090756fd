package runbook

import (
	"fmt"
	"io"
	"strings"

	"github.com/nwroll/nwroll/health"

	"github.com/nwroll/nwroll/cloud"
)

// Text is a step as the plan, the approval dialog, the runbook pane and
// the log show it, rendered from its definition for the step as it stands
// now; a step that ended shows as it ran.
func (m Machine) Text(id StepID) (StepText, bool) {
	for i := range m.Steps {
		if m.Steps[i].ID == id {
			return m.textOf(&m.Steps[i]), true
		}
	}
	return StepText{}, false
}

// Texts are every step's text, in runbook order.
func (m Machine) Texts() []StepText {
	out := make([]StepText, len(m.Steps))
	for i := range m.Steps {
		out[i] = m.textOf(&m.Steps[i])
	}
	return out
}

func (m *Machine) textOf(s *StepState) StepText {
	if s.final != nil {
		return *s.final
	}
	d := s.def
	if d == nil || s.Status == StatusPending {
		nd := m.define(s)
		d = &nd
	}
	return d.text(m.ctxWith(s, d))
}

// Describe renders the plan as the runbook text `nwroll plan` prints:
// every step from its definition, as a machine about to begin sees it.
func (p Plan) Describe() []string {
	m := NewMachine(p, MachineOptions{})
	return m.describe()
}

// Render writes Describe() one line at a time.
func (p Plan) Render(w io.Writer) error {
	for _, l := range p.Describe() {
		if _, err := io.WriteString(w, l+"\n"); err != nil {
			return err
		}
	}
	return nil
}

func (m Machine) describe() []string {
	p, o := m.Plan, m.Plan.Options
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }

	from := map[string]bool{}
	var fromList []string
	for _, n := range p.Nodes {
		if l := n.Current.Label(); !from[l] {
			from[l] = true
			fromList = append(fromList, l)
		}
	}
	if c := p.Cloud; c != nil {
		g, t := c.Group, cloud.TermsOf(c.Provider)
		add("Plan for cluster %q: %d instances of %s %s (%s) from %s to %s, image-first: surge one, retire one", p.Cluster, len(p.Nodes), t.Group, g.Name, c.Provider, strings.Join(fromList, ", "), p.Target.Label())
		add("Images: %s (%s %s) → %s (%s)", c.FromImage, t.Template, c.From, c.Image.ID, fmt.Sprintf(t.Tagged, c.Image.Release))
		add("Group: desired %d, min %d, max %d; each replacement goes to %d instances and back; suspended now: %s", g.Desired, g.Min, g.Max, g.Desired+1, machOrNone(strings.Join(g.Suspended, ", ")))
	} else {
		add("Plan for cluster %q: %d nodes from %s to %s (sha256 %s)", p.Cluster, len(p.Nodes), strings.Join(fromList, ", "), p.Target.Label(), ShortSHA(p.Target.SHA256))
	}
	leaderName := ""
	if l, ok := p.Leader(); ok {
		leaderName = l.Name
	}
	var order []string
	for _, n := range nodeOrder(p.Nodes, leaderName) {
		v := "voter"
		if !n.Voter {
			v = "learner"
		}
		r := "follower"
		if n.Name == leaderName {
			r = "leader"
		}
		order = append(order, fmt.Sprintf("%s (%s, %s, %s)", n.Name, r, v, n.Current.Label()))
	}
	add("Nodes in upgrade order, leader last: %s", strings.Join(order, ", "))
	voters := p.Voters()
	q := health.Quorum(voters)
	if p.Cloud != nil {
		add("Quorum: %d voters, quorum %d, failure tolerance %d; with the new instance %d voters, quorum %d", voters, q, max(voters-q, 0), voters+1, health.Quorum(voters+1))
		add("Options: gates held for %s; gate timeout %s; leader election tolerated for %s", o.Window, o.GateTimeout, o.ElectionWindow)
		add("Every step marked [approval] waits for y (auto-approved with --yes). On a failure: a sysdump first, then keep waiting,")
		add("roll back this node (retire its new instance), roll back all (the group back on its template, new instances replaced), or abort.")
		add("Leadership is re-read before every step: a node that becomes the leader is replaced last.")
	} else {
		add("Quorum: %d voters, quorum %d, failure tolerance %d; one node is stopped at a time", voters, q, max(voters-q, 0))
		backup := o.Backup.String()
		if o.Backup == BackupReuse {
			backup += " set " + o.BackupSet
		}
		bake := ""
		if o.Bake > 0 {
			bake = fmt.Sprintf("; canary bake %s after the first upgrade", o.Bake)
		}
		add("Options: backup %s; gates held for %s; gate timeout %s; leader election tolerated for %s%s", backup, o.Window, o.GateTimeout, o.ElectionWindow, bake)
		add("Every step marked [approval] waits for y (auto-approved with --yes). On a gate failure or timeout: a sysdump first,")
		add("then keep waiting, sysdump, roll back this node, roll back all, or abort; --yes rolls back the node (exit 4).")
		add("Leadership is re-read before every step: a node that becomes the leader is upgraded last.")
	}
	for _, w := range p.Warnings {
		add("Warning: %s", w)
	}
	return append(lines, m.describeSteps()...)
}

// describeSteps are the plan's steps by phase, each with its lines.
func (m Machine) describeSteps() []string {
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	phase, phases := Phase(0), 0
	for i, t := range m.Texts() {
		if t.Phase != phase {
			phase = t.Phase
			phases++
			add("")
			add("Phase %d. %s", phases, phase)
		}
		var tags []string
		if t.ReadOnly {
			tags = append(tags, "read-only")
		}
		if t.Approval {
			tags = append(tags, "approval")
		}
		tag := ""
		if len(tags) > 0 {
			tag = " [" + strings.Join(tags, ", ") + "]"
		}
		add("%3d. %s%s", i+1, t.Title, tag)
		for _, l := range t.Lines() {
			add("       %s", l)
		}
	}
	return lines
}

// Lines are the body of a step's text as the plan prints it: what it does,
// the quorum arithmetic, its gate with every check, and a skip.
func (t StepText) Lines() []string {
	var out []string
	if t.Skip != "" {
		out = append(out, "skipped: "+t.Skip)
	}
	if t.Refuses {
		out = append(out, "- on a failure: refuse (exit 3), naming the node and the check; nothing has changed yet")
	}
	if t.Quorum != "" {
		if t.Kind == StepReplace || t.Kind == StepReplaceBack {
			out = append(out, "quorum: "+t.Quorum)
		} else {
			out = append(out, "quorum before the stop: "+t.Quorum)
		}
	}
	for _, d := range t.Does {
		out = append(out, "- "+d)
	}
	if g := t.Gate; g != nil {
		out = append(out, g.Heading()+":")
		for _, c := range g.Checks {
			out = append(out, "  · "+c)
		}
	}
	return out
}

// Heading says how the gate's checks must hold: "afterwards all 7 checks
// held for 30s (timeout 5m0s)".
func (g GateText) Heading() string {
	n := len(g.Checks)
	what := fmt.Sprintf("%d checks", n)
	if n == 1 {
		what = "1 check"
	}
	switch {
	case g.Strict:
		return fmt.Sprintf("all %s kept for %s without a break", what, g.Hold)
	case g.Hold > 0:
		return fmt.Sprintf("afterwards all %s held for %s (timeout %s)", what, g.Hold, g.Timeout)
	}
	return fmt.Sprintf("all %s must pass", what)
}
