package runbook

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/health"
)

// mtCloud is the group behind an mtWorld in cloud mode: an Auto Scaling
// Group with a terminating hook, launch template versions and two images.
// A surge launches a node that joins ~3 s later (a learner, then a voter);
// retiring a follower drains and evicts it (Neuwerk's auto-evict), retiring
// the leader leaves its member behind (G4) and starts an election.
type mtCloud struct {
	group      cloud.Group
	templates  map[string]string // version → image
	seq        int
	joinAt     map[string]time.Time
	neverJoins bool            // no new node ever becomes a voter (G5, or a bad image)
	neverJoin  map[string]bool // these instances never become voters
	calls      []string
	// A native instance refresh (observe mode): it replaces the old
	// instances in order, launching first; evictLeader makes it clean the
	// old leader's member too (no native roller does: G4).
	refreshQueue []string
	refreshNew   string
	refreshAt    time.Time // the instance warm-up: no step before it
	evictLeader  bool
	// keepCapacity: something else (a scheduled action) puts the desired
	// capacity back up as an instance is retired.
	keepCapacity bool
}

const (
	mtAMIOld = "ami-0old"
	mtAMINew = "ami-0new"
)

func mtCloudNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("i-0%c", 'a'+i)
	}
	return out
}

// mtCloudPlan: n instances on the old image, node leaderIdx leads.
func mtCloudPlan(t testing.TB, n, leaderIdx int) Plan {
	t.Helper()
	return mtCloudPlanWith(t, n, leaderIdx, nil)
}

// mtCloudPlanWith is mtCloudPlan with the group changed by edit first.
func mtCloudPlanWith(t testing.TB, n, leaderIdx int, edit func(*cloud.Group)) Plan {
	t.Helper()
	g := cloud.Group{Name: "nw-asg", Desired: n, Min: n, Max: n + 1,
		Template:        cloud.TemplateRef{ID: "lt-1", Name: "neuwerk", Version: "3"},
		TerminatingHook: &cloud.Hook{Name: "drain", HeartbeatTimeout: 10 * time.Minute, DefaultResult: "CONTINUE"},
		Suspended:       []string{"AlarmNotification"}, // suspended by the operator: the run must leave it so
	}
	g.Movers = mtMovers(g)
	in := PlanInput{Cluster: "lab", Target: BuildRef{Version: "1.1.0", Image: mtAMINew}, Options: mtOpts()}
	for i, name := range mtCloudNames(n) {
		ip := fmt.Sprintf("10.0.0.%d", 10+i)
		g.Instances = append(g.Instances, cloud.Instance{ID: name, PrivateIP: ip, Lifecycle: cloud.InService, State: "InService", Healthy: true, ImageID: mtAMIOld, Template: g.Template})
		in.Nodes = append(in.Nodes, PlanNode{Name: name, NodeID: mtNodeID(i), Addr: ip + ":8443", Voter: true, Leader: i == leaderIdx,
			Current: BuildRef{Version: "1.0.0", Image: mtAMIOld}})
		in.Members = appendMember(in.Members, health.Member{NodeID: mtNodeID(i), Addr: ip + ":9600", IsVoter: true})
	}
	if edit != nil {
		edit(&g)
	}
	in.Cloud = &CloudPlan{Provider: "aws", Group: g, Image: cloud.Image{ID: mtAMINew, Release: "1.1.0"}, FromImage: mtAMIOld}
	p, err := BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func appendMember(r *health.MembersResponse, m health.Member) *health.MembersResponse {
	if r == nil {
		r = &health.MembersResponse{}
	}
	r.Members = append(r.Members, m)
	return r
}

func newCloudWorld(t testing.TB, p Plan, mo MachineOptions) *mtWorld {
	w := newWorld(t, p, mo)
	w.cloud = &mtCloud{group: p.Cloud.Group, templates: map[string]string{"3": mtAMIOld}, joinAt: map[string]time.Time{}}
	for i, n := range w.nodes {
		n.addr = p.Members[i].Addr
	}
	return w
}

func (c *mtCloud) perform(w *mtWorld, e Effect) (Event, bool) {
	res := EffectResult{ID: e.Meta().ID, At: w.now}
	g := &c.group
	switch e := e.(type) {
	case CloudDescribe:
		res.Data = c.describe()
	case CloudNewTemplate:
		v := fmt.Sprint(len(c.templates) + 3)
		c.templates[v] = e.Image.ID
		res.Data = cloud.TemplateRef{ID: e.Base.ID, Name: e.Base.Name, Version: v}
	case CloudSetTemplate:
		g.Template = e.Template
	case CloudFreeze:
		g.Suspended = append(g.Suspended, e.Processes...)
	case CloudThaw:
		g.Suspended = slices.DeleteFunc(g.Suspended, func(p string) bool { return slices.Contains(e.Processes, p) })
	case CloudSurge:
		for g.Desired < e.Desired {
			g.Desired++
			c.seq++
			in := cloud.Instance{ID: fmt.Sprintf("i-1%02d", c.seq), PrivateIP: fmt.Sprintf("10.0.1.%d", c.seq), Lifecycle: cloud.InService,
				State: "InService", Healthy: true, ImageID: c.templates[g.Template.Version], Template: g.Template}
			if g.LaunchingHook != nil {
				in.Lifecycle, in.State = cloud.Pending, "Pending:Wait"
			}
			g.Instances = append(g.Instances, in)
			w.nodes = append(w.nodes, &mtNode{name: in.ID, id: mtNodeID(100 + c.seq), up: true, startedAt: w.now, notMember: true, addr: in.PrivateIP + ":9600"})
			c.joinAt[in.ID] = w.now.Add(3 * time.Second)
		}
		for _, in := range g.Instances {
			if !slices.Contains(e.Before, in.ID) {
				res.Data = in
			}
		}
	case CloudRetire:
		i := slices.IndexFunc(g.Instances, func(in cloud.Instance) bool { return in.ID == e.Instance })
		if i < 0 {
			res.Data = c.describe()
			break
		}
		g.Instances = slices.Delete(g.Instances, i, i+1)
		if !c.keepCapacity {
			g.Desired--
		}
		delete(c.joinAt, e.Instance)
		n := w.node(e.Node)
		n.up, n.gone = false, true
		if w.leader == n.name {
			w.leader, w.electAt = "", w.now.Add(3*time.Second)
		} else {
			n.notMember = true // drained and evicted by the leader
		}
		res.Data = c.describe()
	case CloudCancelRefresh:
		if g.Refresh != nil && g.Refresh.Active() {
			g.Refresh.Status, c.refreshQueue = "Cancelled", nil
		}
	case CloudCompleteLaunch:
		for i, in := range g.Instances {
			if in.ID == e.Instance && in.State == "Pending:Wait" {
				g.Instances[i].Lifecycle, g.Instances[i].State = cloud.InService, "InService"
			}
		}
	case RemoveMember:
		for _, n := range w.nodes {
			if n.id == e.NodeID {
				if !n.gone {
					res.Err = errors.New("refusing to remove a live member")
				}
				n.notMember = true
			}
		}
	default:
		return nil, false
	}
	c.calls = append(c.calls, mtCallName(e))
	return res, true
}

func mtCallName(e Effect) string {
	s := e.Kind()
	switch e := e.(type) {
	case CloudRetire:
		s += " " + e.Instance
	case CloudSurge:
		s += fmt.Sprint(" ", e.Desired)
	case RemoveMember:
		s += " " + e.Node
	case CloudCompleteLaunch:
		s += " " + e.Instance
	}
	return s
}

func (c *mtCloud) describe() cloud.Group {
	g := c.group
	g.Instances = slices.Clone(g.Instances)
	g.Suspended = slices.Clone(g.Suspended)
	g.Movers = mtMovers(g)
	return g
}

// mtMovers are the world's movers not suspended now, as a provider
// describes them.
func mtMovers(g cloud.Group) []string {
	return slices.DeleteFunc([]string{"AZRebalance", "ScheduledActions", "AlarmNotification"},
		func(p string) bool { return slices.Contains(g.Suspended, p) })
}

// startRefresh is the operator's start-instance-refresh.
func (c *mtCloud) startRefresh() {
	c.group.Refresh = &cloud.Refresh{ID: "rf-1", Status: "InProgress", InstancesToUpdate: len(c.group.Instances)}
	for _, in := range c.group.Instances {
		c.refreshQueue = append(c.refreshQueue, in.ID)
	}
	c.group.Template = cloud.TemplateRef{ID: "lt-1", Name: "neuwerk", Version: "4"}
	c.templates["4"] = mtAMINew
}

// refreshStep moves a native refresh on: launch a replacement, and once it
// is a voter terminate the oldest old instance, like the ASG does.
func (c *mtCloud) refreshStep(w *mtWorld) {
	r := c.group.Refresh
	if r == nil || r.Status != "InProgress" || w.now.Before(c.refreshAt) {
		return
	}
	c.refreshAt = w.now.Add(5 * time.Second)
	if len(c.refreshQueue) == 0 {
		r.Status, r.PercentComplete = "Successful", 100
		return
	}
	if c.refreshNew == "" {
		before := len(c.group.Instances)
		c.perform(w, CloudSurge{Desired: before + 1})
		c.refreshNew = c.group.Instances[len(c.group.Instances)-1].ID
		return
	}
	if n := w.node(c.refreshNew); !n.voter || n.notMember {
		return
	}
	old := c.refreshQueue[0]
	c.refreshQueue, c.refreshNew = c.refreshQueue[1:], ""
	wasLeader := w.leader == old
	c.perform(w, CloudRetire{Node: old, Instance: old})
	if wasLeader && c.evictLeader {
		w.node(old).notMember = true
	}
	r.PercentComplete = 100 * (r.InstancesToUpdate - len(c.refreshQueue)) / r.InstancesToUpdate
}

// tick: a launched node joins (learner, then voter a second later).
func (c *mtCloud) tick(w *mtWorld) {
	c.refreshStep(w)
	for id, at := range c.joinAt {
		n := w.node(id)
		switch {
		case w.now.Before(at) || w.leader == "":
		case n.notMember:
			n.notMember, n.applied = false, w.index
		case !n.voter && !c.neverJoins && !c.neverJoin[id]:
			n.voter = true
			delete(c.joinAt, id)
		}
	}
}

func TestCloudPlanSteps(t *testing.T) {
	p := mtCloudPlan(t, 3, 1)
	var ids []string
	for _, s := range p.Steps {
		ids = append(ids, string(s.ID))
	}
	mtEqual(t, "steps", ids, []string{"connect", "precheck", "group-check", "group-prepare",
		"replace/i-0a", "replace/i-0c", "replace/i-0b", "group-validate", "group-thaw"})
	if len(p.Warnings) != 0 {
		t.Fatalf("warnings: %v", p.Warnings)
	}
	m := NewMachine(p, MachineOptions{})
	texts := m.Texts()
	byID := map[StepID]StepText{}
	for _, tx := range texts {
		byID[tx.ID] = tx
	}
	prep := byID["group-prepare"]
	if prep.Title != "Prepare group nw-asg: neuwerk v3 → image ami-0new (1.1.0)" || !prep.Approval || prep.ReadOnly {
		t.Fatalf("prepare: %+v", prep)
	}
	if !slices.ContainsFunc(prep.Does, func(s string) bool {
		return strings.HasPrefix(s, "suspend AZRebalance, ScheduledActions on group nw-asg")
	}) {
		t.Fatalf("prepare freezes what is not suspended already: %q", prep.Does)
	}
	r := byID["replace/i-0b"]
	if r.Title != "Replace i-0b (leader): 1.0.0 → 1.1.0, surge then retire" || !r.Approval {
		t.Fatalf("leader replacement: %+v", r)
	}
	if want := "replacing i-0b: voters 3 (quorum 2, tolerates 1) → 4 once the new instance joins (quorum 3, tolerates 1) → 3 once i-0b is retired (quorum 2, tolerates 1)"; r.Quorum != want {
		t.Fatalf("quorum arithmetic:\n got %s\nwant %s", r.Quorum, want)
	}
	for _, want := range []string{"surge: desired capacity 3 → 4", "join gate on the new instance", "retire i-0b", "Neuwerk never evicts the leader itself",
		"warning: the new instance will join through i-0a, the oldest instance, a follower (the leader is i-0b)",
		"POST /api/v1/cluster/members/" + mtNodeID(1) + "/remove", "settle gate: i-0b gone from the members, 3 voters"} {
		if !slices.ContainsFunc(r.Does, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("the leader's replacement does not say %q: %q", want, r.Does)
		}
	}
	if r.Gate == nil || r.Gate.Name != "join" {
		t.Fatalf("the replacement's first gate is the join gate: %+v", r.Gate)
	}
	f := byID["replace/i-0a"]
	if !slices.ContainsFunc(f.Does, func(s string) bool { return strings.Contains(s, "Neuwerk drains i-0a and evicts it") }) {
		t.Fatalf("a follower's replacement: %q", f.Does)
	}
}

func TestCloudPlanRefusals(t *testing.T) {
	p := mtCloudPlan(t, 3, 0)
	g := p.Cloud.Group
	g.Max = 3
	g.Problems = []string{"group nw-asg has no terminating lifecycle hook, so Neuwerk cannot drain a retired instance"}
	g.Instances[2].Lifecycle, g.Instances[2].State = cloud.TerminatingWait, "Terminating:Wait"
	members := slices.Clone(p.Members)
	members = append(members, health.Member{NodeID: "999", Addr: "10.9.9.9:9600", IsVoter: true})
	got := groupRefusals(cloud.TermsOf("aws"), g, p.Cloud.Image, members, p.Options)
	for _, want := range []string{
		"group nw-asg is not stable: instance i-0c is Terminating:Wait",
		"no room to surge: max size 3, desired 3; raise its max size to 4",
		"has no terminating lifecycle hook", // the provider's own problems, as they are
		"Raft member 999 (10.9.9.9:9600) is no instance of group nw-asg",
	} {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no refusal says %q: %q", want, got)
		}
	}
}

func TestCloudMachineHappyPath(t *testing.T) {
	p := mtCloudPlan(t, 3, 1)
	w := newCloudWorld(t, p, MachineOptions{})
	w.send(Begin{At: w.now})
	w.runToEnd()
	m := w.m
	if m.ExitCode != 0 {
		t.Fatalf("exit %d: %s", m.ExitCode, m.Reason)
	}
	c := w.cloud
	mtEqual(t, "provider calls", c.calls, []string{
		"describe", "new-template", "set-template", "freeze",
		"surge 4", "retire i-0a",
		"surge 4", "retire i-0c",
		"surge 4", "retire i-0b", "remove-member i-0b",
		"describe", "thaw"})
	if g := c.group; g.Desired != 3 || len(g.Instances) != 3 || g.Template.Version != "4" {
		t.Fatalf("group: desired %d, %d instances, template %s", g.Desired, len(g.Instances), g.Template)
	}
	if got := c.group.Suspended; !slices.Equal(got, []string{"AlarmNotification"}) {
		t.Fatalf("suspended after the run: %v (the operator's own suspension stays, the run's are resumed)", got)
	}
	var voters []string
	for _, n := range w.nodes {
		if !n.notMember && n.voter {
			voters = append(voters, n.name)
		}
	}
	mtEqual(t, "voters", voters, []string{"i-101", "i-102", "i-103"})
	for _, in := range c.group.Instances {
		if in.ImageID != mtAMINew {
			t.Errorf("%s runs %s", in.ID, in.ImageID)
		}
	}
	if m.Reason != "every node runs 1.1.0" {
		t.Fatalf("reason: %s", m.Reason)
	}
	for _, n := range m.Nodes {
		want := NodeRetired
		if n.Launched {
			want = NodeUpgraded
		}
		if n.Status != want {
			t.Errorf("%s: %s", n.Name, n.Status)
		}
	}
	// The surge's intent is in the journal before it.
	if rs := mtRecords(w.effects, "surge"); len(rs) != 6 {
		t.Fatalf("surge records (intent and outcome for each of 3): %d", len(rs))
	}
}

// The target image's node never becomes a voter: the join gate fails
// naming the likely cause, nothing old is retired, and --yes retires the
// new instance again, points the group back and thaws it (exit 4).
// A group with a launching hook: each new instance's hook is answered
// CONTINUE once its join gate passed, before the old instance goes; a
// hook too short for the join gate is refused before anything changes.
func TestCloudLaunchingHook(t *testing.T) {
	withHook := func(d time.Duration) func(*cloud.Group) {
		return func(g *cloud.Group) {
			g.LaunchingHook = &cloud.Hook{Name: "join", HeartbeatTimeout: d, DefaultResult: "ABANDON"}
		}
	}
	w := newCloudWorld(t, mtCloudPlanWith(t, 3, 1, withHook(time.Hour)), MachineOptions{})
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != 0 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	mtEqual(t, "provider calls", w.cloud.calls, []string{
		"describe", "new-template", "set-template", "freeze",
		"surge 4", "complete-launch i-101", "retire i-0a",
		"surge 4", "complete-launch i-102", "retire i-0c",
		"surge 4", "complete-launch i-103", "retire i-0b", "remove-member i-0b",
		"describe", "thaw"})
	for _, in := range w.cloud.group.Instances {
		if in.Lifecycle != cloud.InService {
			t.Errorf("%s is %s after the run", in.ID, in.State)
		}
	}
	if got := len(mtRecords(w.effects, "launch-completed")); got != 3 {
		t.Errorf("%d launch-completed events, want 3", got)
	}
	if r, _ := w.m.Text("replace/i-0a"); !slices.ContainsFunc(r.Does, func(s string) bool {
		return strings.Contains(s, "answer launching hook join for the new instance: CONTINUE (it holds it for 1h0m0s without an answer, then ABANDON)")
	}) {
		t.Errorf("the replacement does not say it answers the hook: %q", r.Does)
	}

	short := newCloudWorld(t, mtCloudPlanWith(t, 3, 1, withHook(time.Minute)), MachineOptions{Headless: true, Approver: "ci@runner"})
	short.send(Begin{At: short.now})
	short.runToEnd()
	if !strings.Contains(short.m.Reason, "launching hook join gives a new instance 1m0s before it abandons") ||
		!strings.Contains(short.m.Reason, "raise its heartbeat timeout to at least") {
		t.Fatalf("a short hook: exit %d: %s", short.m.ExitCode, short.m.Reason)
	}
	if !slices.Equal(short.cloud.calls, []string{"describe"}) {
		t.Fatalf("a refused run changed the group: %v", short.cloud.calls)
	}
}

func TestCloudNeverJoinsHeadless(t *testing.T) {
	p := mtCloudPlan(t, 3, 1)
	w := newCloudWorld(t, p, MachineOptions{Headless: true, Approver: "ci@runner"})
	w.cloud.neverJoins = true
	w.send(Begin{At: w.now})
	w.runToEnd()
	m := w.m
	if m.ExitCode != ExitRolledBack {
		t.Fatalf("exit %d: %s", m.ExitCode, m.Reason)
	}
	mtEqual(t, "provider calls", w.cloud.calls, []string{
		"describe", "new-template", "set-template", "freeze",
		"surge 4", "retire i-101", "set-template", "thaw"})
	if g := w.cloud.group; g.Template.Version != "3" || g.Desired != 3 || !slices.Equal(g.Suspended, []string{"AlarmNotification"}) {
		t.Fatalf("group after the run: template %s, desired %d, suspended %v", g.Template, g.Desired, g.Suspended)
	}
	fails := mtRecords(w.effects, "failure")
	if len(fails) != 1 || !strings.Contains(fails[0].Detail, "i-101 never became a voter") || !strings.Contains(fails[0].Detail, "G5") {
		t.Fatalf("the failure names the likely cause: %+v", fails)
	}
	for _, name := range []string{"i-0a", "i-0b", "i-0c"} {
		if n, _ := m.NodeByName(name); n.Retired || n.Status == NodeFailed {
			t.Errorf("%s: retired %v, status %s: an old node must be left as it was", name, n.Retired, n.Status)
		}
	}
	if n, _ := m.NodeByName("i-101"); !n.Retired || n.Status != NodeRetired {
		t.Errorf("i-101: retired %v, status %s", n.Retired, n.Status)
	}
	st, _ := m.StepByID("replace/i-0a")
	if st.Status != StatusRolledBack {
		t.Errorf("replace/i-0a: %s", st.Status)
	}
	if !strings.Contains(m.Reason, "rolled back: i-0a") {
		t.Errorf("reason: %s", m.Reason)
	}
}

// An abort while the new instance joins: the run's end retires it, points
// the group back and thaws it, on the abort's approval.
func TestCloudAbortWhileJoining(t *testing.T) {
	p := mtCloudPlan(t, 3, 1)
	w := newCloudWorld(t, p, MachineOptions{Approver: "op@laptop"})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { return w.m.Gate.Open && w.m.Gate.Name == "join" })
	w.send(Abort{At: w.now})
	w.send(AbortConfirm{At: w.now})
	w.runToEnd()
	m := w.m
	if m.ExitCode != 1 {
		t.Fatalf("exit %d: %s", m.ExitCode, m.Reason)
	}
	mtEqual(t, "provider calls", w.cloud.calls, []string{
		"describe", "new-template", "set-template", "freeze",
		"surge 4", "retire i-101", "set-template", "thaw"})
	end, _ := m.StepByID("group-thaw")
	if end.Status != StatusDone || end.final == nil || end.final.Title != "Retire i-101 and resume group nw-asg" {
		t.Fatalf("the end step: %s %+v", end.Status, end.final)
	}
	if !slices.Contains(end.final.Does, "no approval of its own: the confirmed abort covers it") {
		t.Fatalf("the end step says what approved it: %q", end.final.Does)
	}
}

// The leader's replacement never joins; the operator rolls everything
// back: the new instance is retired, the group points at its template
// version again, and each node launched by the run is replaced by one on
// the previous image, newest first.
func TestCloudRollbackAll(t *testing.T) {
	p := mtCloudPlan(t, 3, 1)
	w := newCloudWorld(t, p, MachineOptions{Approver: "op@laptop"})
	w.cloud.neverJoin = map[string]bool{"i-103": true}
	w.send(Begin{At: w.now})
	w.untilPaused()
	if f := w.m.Failure; f == nil || f.Step != "replace/i-0b" || !w.m.IsAllowed(ActRollbackAll) || !w.m.IsAllowed(ActRollbackNode) {
		t.Fatalf("failure %+v; allowed %v", f, w.m.Allowed())
	}
	if n, _ := w.m.NodeByName("i-0b"); n.Status == NodeFailed {
		t.Fatal("the old leader is shown failed; its replacement failed")
	}
	if n, _ := w.m.NodeByName("i-103"); n.Status != NodeFailed {
		t.Fatalf("i-103: %s", n.Status)
	}
	w.send(RollbackAll{At: w.now})
	w.runToEnd()
	m := w.m
	if m.ExitCode != ExitRolledBack {
		t.Fatalf("exit %d: %s", m.ExitCode, m.Reason)
	}
	mtEqual(t, "provider calls", w.cloud.calls, []string{
		"describe", "new-template", "set-template", "freeze",
		"surge 4", "retire i-0a", "surge 4", "retire i-0c", "surge 4",
		"retire i-103", "set-template", "surge 4", "retire i-102", "surge 4", "retire i-101", "thaw"})
	g := w.cloud.group
	if g.Template.Version != "3" || g.Desired != 3 {
		t.Fatalf("group: template %s, desired %d", g.Template, g.Desired)
	}
	var live []string
	for _, in := range g.Instances {
		live = append(live, in.ID+" "+in.ImageID)
	}
	mtEqual(t, "instances", live, []string{"i-0b ami-0old", "i-104 ami-0old", "i-105 ami-0old"})
	if !strings.HasPrefix(m.Reason, "rolled back: i-0b, i-0c, i-0a") {
		t.Fatalf("reason: %s", m.Reason)
	}
}

// Each provider's plan speaks that cloud's words: its group, template,
// hold and what Neuwerk does with a retired follower.
func TestCloudPlanWordsPerProvider(t *testing.T) {
	for provider, wants := range map[string][]string{
		"azure": {"3 instances of VM scale set nw-asg (azure)", "take the model of neuwerk v3 with its image reference on gallery image version ami-0new",
			"a terminate notification;", "Neuwerk drains i-0a, evicts it from Raft and acknowledges the terminate notification", "by gallery image version (never latest)"},
		"gcp": {"3 instances of managed instance group nw-asg (gcp)", "create an instance template from neuwerk v3, launching image ami-0new",
			"GCP holds no deletion: i-0a drains in its graceful shutdown, and nwroll removes its Raft member once it is gone", "labelled neuwerk_release=1.1.0"},
	} {
		p := mtCloudPlan(t, 3, 1)
		p.Cloud.Provider = provider
		var b strings.Builder
		if err := p.Render(&b); err != nil {
			t.Fatal(err)
		}
		for _, want := range wants {
			if !strings.Contains(b.String(), want) {
				t.Errorf("%s: the plan lacks %q:\n%s", provider, want, b.String())
			}
		}
		if strings.Contains(b.String(), "lifecycle hook") || strings.Contains(b.String(), "$Latest") {
			t.Errorf("%s: the plan speaks AWS:\n%s", provider, b.String())
		}
	}
}

func TestCloudPlanRender(t *testing.T) {
	var b strings.Builder
	if err := mtCloudPlan(t, 3, 1).Render(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`Plan for cluster "lab": 3 instances of Auto Scaling group nw-asg (aws) from 1.0.0 to 1.1.0, image-first: surge one, retire one`,
		"Images: ami-0old (launch template neuwerk v3) → ami-0new (tagged neuwerk.io/release=1.1.0)",
		"Group: desired 3, min 3, max 4; each replacement goes to 4 instances and back; suspended now: AlarmNotification",
		"Nodes in upgrade order, leader last: i-0a (follower, voter, 1.0.0), i-0c (follower, voter, 1.0.0), i-0b (leader, voter, 1.0.0)",
		"  7. Replace i-0b (leader): 1.0.0 → 1.1.0, surge then retire [approval]",
		"quorum: replacing i-0b: voters 3",
		"- surge: desired capacity 3 → 4 (no cooldown); journal the request, then the new instance's id",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q", want)
		}
	}
	if strings.Contains(out, "sha256") || strings.Contains(out, "backup") {
		t.Errorf("a cloud plan speaks of binaries:\n%s", out)
	}
	if t.Failed() {
		t.Log(out)
	}
}

// mtCloudResume "kills" the world's machine and resumes the run from the
// group as it is now and the journal's facts, as `nwroll resume` does:
// the plan's nodes are the live instances; its template, image and size
// are the run's.
func mtCloudResume(t *testing.T, w *mtWorld, orig Plan, facts ResumeFacts, opts MachineOptions) {
	t.Helper()
	g := w.cloud.describe()
	in := PlanInput{Cluster: "lab", Target: orig.Target, Options: mtOpts()}
	for _, inst := range g.Instances {
		n := w.node(inst.ID)
		in.Nodes = append(in.Nodes, PlanNode{Name: n.name, NodeID: n.id, Addr: inst.PrivateIP + ":8443", Voter: n.voter, Leader: w.leader == n.name,
			Current: BuildRef{Image: inst.ImageID}})
		if !n.notMember {
			in.Members = appendMember(in.Members, health.Member{NodeID: n.id, Addr: n.addr, IsVoter: n.voter})
		}
	}
	c := *orig.Cloud // the run's record: its template version and image before, its size
	c.Group = g
	in.Cloud = &c
	p, err := BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ResumeState(p, facts, opts)
	if err != nil {
		t.Fatal(err)
	}
	w.m, w.queue = m, nil
	w.cloud.calls = append(w.cloud.calls, "--- resume")
	w.send(Begin{At: w.now})
}

// Killed between the surge and the join gate: the resumed run gates the
// instance it launched instead of launching another, then goes on.
func TestCloudResumeAfterSurge(t *testing.T) {
	p := mtCloudPlan(t, 3, 1)
	w := newCloudWorld(t, p, MachineOptions{Headless: true, Approver: "ci@runner"})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { return w.m.Gate.Open && w.m.Gate.Name == "join" })
	facts := ResumeFacts{Unfinished: []StepID{"replace/i-0a"}, Cloud: &CloudFacts{
		Frozen: []string{"AZRebalance", "ScheduledActions"}, NewTemplate: cloud.TemplateRef{ID: "lt-1", Name: "neuwerk", Version: "4"},
		Launched: map[string]string{"i-101": "i-0a"}, LaunchOrder: []string{"i-101"}}}
	mtCloudResume(t, w, p, facts, MachineOptions{Headless: true, Approver: "ci@runner"})
	w.runToEnd()
	if w.m.ExitCode != 0 {
		t.Fatalf("exit %d: %s; %v", w.m.ExitCode, w.m.Reason, mtRecords(w.effects, "failure"))
	}
	mtEqual(t, "provider calls", w.cloud.calls, []string{
		"describe", "new-template", "set-template", "freeze", "surge 4", "--- resume",
		"retire i-0a", "describe", "surge 4", "retire i-0c", "surge 4", "retire i-0b", "remove-member i-0b", "describe", "thaw"})
	if g := w.cloud.group; len(g.Instances) != 3 || g.Desired != 3 || !slices.Equal(g.Suspended, []string{"AlarmNotification"}) {
		t.Fatalf("group: %d instances, desired %d, suspended %v", len(g.Instances), g.Desired, g.Suspended)
	}
	st, _ := w.m.StepByID("replace/i-0a")
	if st.Status != StatusDone || st.ApprovedBy != "approved before the interruption" {
		t.Fatalf("the resumed replacement: %s, approved by %q", st.Status, st.ApprovedBy)
	}
}

// Killed after the leader's instance was terminated and before its
// member was removed: the resumed run removes the member (it is no
// instance any more) and the cluster ends with exactly 3 voters.
func TestCloudResumeAfterLeaderRetired(t *testing.T) {
	p := mtCloudPlan(t, 3, 1)
	w := newCloudWorld(t, p, MachineOptions{Headless: true, Approver: "ci@runner"})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { n, _ := w.m.NodeByName("i-0b"); return n.Retired })
	leaderID := mtNodeID(1)
	facts := ResumeFacts{Unfinished: []StepID{"replace/i-0b"}, Cloud: &CloudFacts{
		Frozen: []string{"AZRebalance", "ScheduledActions"}, NewTemplate: cloud.TemplateRef{ID: "lt-1", Name: "neuwerk", Version: "4"},
		Launched:    map[string]string{"i-101": "i-0a", "i-102": "i-0c", "i-103": "i-0b"},
		LaunchOrder: []string{"i-101", "i-102", "i-103"},
		Retires:     map[string]CloudRecord{"i-0a": {Instance: "i-0a"}, "i-0c": {Instance: "i-0c"}, "i-0b": {Instance: "i-0b", NodeID: leaderID}}}}
	mtCloudResume(t, w, p, facts, MachineOptions{Headless: true, Approver: "ci@runner"})
	w.runToEnd()
	if w.m.ExitCode != 0 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	calls := w.cloud.calls[slices.Index(w.cloud.calls, "--- resume"):]
	mtEqual(t, "provider calls after the resume", calls, []string{"--- resume", "retire i-0b", "remove-member i-0b", "describe", "describe", "thaw"})
	var voters []string
	for _, n := range w.nodes {
		if !n.notMember && n.voter {
			voters = append(voters, n.name)
		}
	}
	mtEqual(t, "voters", voters, []string{"i-101", "i-102", "i-103"})
}

// `nwroll rollback` after a successful run: the group back on its
// template version, and every instance the run launched replaced by one
// on the previous image, newest first.
func TestCloudRollbackAfterSuccess(t *testing.T) {
	p := mtCloudPlan(t, 3, 1)
	w := newCloudWorld(t, p, MachineOptions{Headless: true, Approver: "ci@runner"})
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != 0 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	facts := ResumeFacts{Cloud: &CloudFacts{NewTemplate: cloud.TemplateRef{ID: "lt-1", Name: "neuwerk", Version: "4"},
		Launched: map[string]string{"i-101": "i-0a", "i-102": "i-0c", "i-103": "i-0b"}, LaunchOrder: []string{"i-101", "i-102", "i-103"}}}
	g := w.cloud.describe()
	in := PlanInput{Cluster: "lab", Target: p.Target, Options: mtOpts()}
	for _, inst := range g.Instances {
		n := w.node(inst.ID)
		in.Nodes = append(in.Nodes, PlanNode{Name: n.name, NodeID: n.id, Addr: inst.PrivateIP + ":8443", Voter: true, Leader: w.leader == n.name, Current: BuildRef{Version: "1.1.0", Image: inst.ImageID}})
		in.Members = appendMember(in.Members, health.Member{NodeID: n.id, Addr: n.addr, IsVoter: true})
	}
	c := *p.Cloud
	c.Group = g
	in.Cloud = &c
	rp, err := BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	m, err := RollbackState(rp, facts, MachineOptions{Headless: true, Approver: "ci@runner"}, RollbackScope{})
	if err != nil {
		t.Fatal(err)
	}
	w.m, w.cloud.calls = m, nil
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != 0 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	leader := w.leader
	var back []string
	for _, s := range w.m.Steps {
		if s.Kind == StepReplaceBack {
			back = append(back, s.Node)
		}
	}
	if back[len(back)-1] != "i-103" && leader == "" {
		t.Fatalf("order: %v", back)
	}
	g = w.cloud.group
	var live []string
	for _, in := range g.Instances {
		live = append(live, in.ImageID)
	}
	mtEqual(t, "images", live, []string{mtAMIOld, mtAMIOld, mtAMIOld})
	if g.Template.Version != "3" || g.Desired != 3 || !slices.Equal(g.Suspended, []string{"AlarmNotification"}) {
		t.Fatalf("group: template %s, desired %d, suspended %v", g.Template, g.Desired, g.Suspended)
	}
	if w.m.Reason == "" || !strings.HasPrefix(w.m.Reason, "rolled back") {
		t.Fatalf("reason: %s", w.m.Reason)
	}
}

func mtObservePlan(t *testing.T) Plan {
	t.Helper()
	p := mtCloudPlan(t, 3, 1)
	in := PlanInput{Cluster: "lab", Target: p.Target, Options: mtOpts(), Cloud: p.Cloud, Members: &health.MembersResponse{Members: p.Members}}
	in.Options.Observe = true
	for _, n := range p.Nodes {
		in.Nodes = append(in.Nodes, PlanNode{Name: n.Name, NodeID: n.NodeID, Addr: n.Addr, Voter: true, Leader: n.Leader, Current: n.Current})
	}
	op, err := BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// Observe mode: the operator's refresh replaces every instance, and its
// roller cleans the old leader's member: the gates hold throughout and
// the run validates the new image.
func TestCloudObserveRefreshSucceeds(t *testing.T) {
	p := mtObservePlan(t)
	var ids []string
	for _, s := range p.Steps {
		ids = append(ids, string(s.ID))
	}
	mtEqual(t, "steps", ids, []string{"connect", "precheck", "observe", "group-validate", "observe-end"})
	w := newCloudWorld(t, p, MachineOptions{Approver: "op@laptop"})
	w.cloud.evictLeader = true
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { s, ok := w.m.Current(); return ok && s.Kind == StepObserve })
	w.cloud.startRefresh()
	w.runToEnd()
	if w.m.ExitCode != 0 {
		for _, n := range w.m.Nodes {
			t.Logf("%s id %q retired %v image %s", n.Name, n.NodeID, n.Retired, n.Binary.Image)
		}
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	if slices.ContainsFunc(w.cloud.calls, func(c string) bool { return c == "cancel-refresh" }) {
		t.Fatal("a refresh that succeeded was cancelled")
	}
	var live []string
	for _, n := range w.m.Nodes {
		if !n.Retired {
			live = append(live, n.Name+" "+n.Binary.Image)
		}
	}
	mtEqual(t, "live nodes", live, []string{"i-101 ami-0new", "i-102 ami-0new", "i-103 ami-0new"})
}

// The native refresh terminates the leader and leaves its member behind
// (G4): 4 voters, 3 up, tolerance 0. The watch fails at once, and the
// abort cancels the refresh.
func TestCloudObserveCatchesLeftoverLeaderAndCancels(t *testing.T) {
	p := mtObservePlan(t)
	w := newCloudWorld(t, p, MachineOptions{Approver: "op@laptop"})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { s, ok := w.m.Current(); return ok && s.Kind == StepObserve })
	w.cloud.startRefresh()
	w.untilPaused()
	f := w.m.Failure
	if f == nil || f.Step != "observe" || !strings.Contains(f.Reason, "tolerance 0, below 1") {
		t.Logf("calls %v refresh %+v queue %v", w.cloud.calls, w.cloud.group.Refresh, w.cloud.refreshQueue)
		for _, r := range mtOfKind[Record](w.effects) {
			if r.Type == RecordEvent {
				t.Logf("%s %s %s %.150s", r.Step, r.Node, r.Op, r.Detail)
			}
		}
		t.Fatalf("failure: %+v", f)
	}
	w.send(Abort{At: w.now})
	w.send(AbortConfirm{At: w.now})
	w.runToEnd()
	if !slices.Contains(w.cloud.calls, "cancel-refresh") || w.cloud.group.Refresh.Status != "Cancelled" {
		t.Fatalf("calls %v, refresh %+v", w.cloud.calls, w.cloud.group.Refresh)
	}
	if w.m.ExitCode != 1 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
}

func TestCloudSummary(t *testing.T) {
	p := mtCloudPlan(t, 3, 1)
	w := newCloudWorld(t, p, MachineOptions{Headless: true, Approver: "ci@runner"})
	w.send(Begin{At: w.now})
	w.runToEnd()
	lines := w.m.Summary().Lines()
	mtEqual(t, "summary", lines[:6], []string{
		"i-0a: retired (it ran 1.0.0, image ami-0old)",
		"i-0b: retired (it ran 1.0.0, image ami-0old)",
		"i-0c: retired (it ran 1.0.0, image ami-0old)",
		"i-101: runs 1.1.0 (image ami-0new), launched by this run to replace i-0a",
		"i-102: runs 1.1.0 (image ami-0new), launched by this run to replace i-0c",
		"i-103: runs 1.1.0 (image ami-0new), launched by this run to replace i-0b",
	})
}

// The group's capacity does not come back to N after a retirement:
// something else changed the group. The step fails saying so.
func TestCloudCapacityChangedUnderneath(t *testing.T) {
	p := mtCloudPlan(t, 3, 1)
	w := newCloudWorld(t, p, MachineOptions{Approver: "op@laptop"})
	w.cloud.keepCapacity = true
	w.send(Begin{At: w.now})
	w.untilPaused()
	f := w.m.Failure
	if f == nil || f.Step != "replace/i-0a" || !strings.Contains(f.Reason, "group nw-asg's desired capacity is 4 after retiring i-0a, not 3") {
		t.Fatalf("failure: %+v", f)
	}
}
