package rollouttest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// upgradeSeq is the changes one node's upgrade makes.
func upgradeSeq(node string) []string {
	return []string{"stop " + node, "keep-prev " + node, "swap " + node, "start " + node}
}

// swapOrder lists the nodes in the order their binary was swapped.
// swapOrder is the nodes whose swap succeeded, in order (a chain's swap
// that did not run is journaled as failed).
func swapOrder(effs []runbook.Effect) []string {
	var out []string
	for _, r := range EffectsOf[runbook.Record](effs) {
		if r.Type == runbook.RecordOutcome && r.Op == runbook.OpSwap.String() && r.OK {
			out = append(out, r.Node)
		}
	}
	return out
}

func wantSuccess(t *testing.T, d *Driver, leader string, order []string) {
	t.Helper()
	if !d.M.Finished || d.M.ExitCode != 0 {
		t.Fatalf("finished %v exit %d: %s", d.M.Finished, d.M.ExitCode, d.M.Reason)
	}
	if got := swapOrder(d.Effects); !slices.Equal(got, order) {
		t.Errorf("swap order %v, want %v", got, order)
	}
	if got := swapOrder(d.Effects); len(got) == 0 || got[len(got)-1] != leader {
		t.Errorf("leader %s not upgraded last: %v", leader, got)
	}
	if d.C.MaxDown() != 1 {
		t.Errorf("at most %d node(s) down at once, want 1", d.C.MaxDown())
	}
	for _, n := range d.C.Nodes() {
		if n.Binary != New || n.Prev != Old || n.Staged != (runbook.BuildRef{}) || !n.Up {
			t.Errorf("cluster %s: on %s prev %s staged %s up %v", n.Name, n.Binary.Label(), n.Prev.Label(), n.Staged.Label(), n.Up)
		}
	}
	for _, n := range d.M.Nodes {
		if n.Status != runbook.NodeUpgraded || n.Binary != New || n.Down {
			t.Errorf("machine %s: %s on %s down %v", n.Name, n.Status, n.Binary.Label(), n.Down)
		}
	}
	if d.C.Leader() == "" {
		t.Errorf("no leader at the end")
	}
	if f := EffectsOf[runbook.Finish](d.Effects); len(f) != 1 || f[0].ExitCode != 0 {
		t.Errorf("finish effects %+v", f)
	}
}

func TestFullRunThreeNodes(t *testing.T) {
	c := NewCluster(3, 0)
	d := NewDriver(t, c, c.Plan(t, DefaultPlanOptions()), runbook.MachineOptions{})
	d.AutoApprove = true
	d.Begin()
	d.RunToEnd()
	wantSuccess(t, d, "fw-a", []string{"fw-b", "fw-c", "fw-a"})

	want := slices.Concat(
		[]string{"lock", "stage fw-a", "stage fw-b", "stage fw-c", "backup fw-b", "backup fw-c", "backup fw-a"},
		upgradeSeq("fw-b"), upgradeSeq("fw-c"), upgradeSeq("fw-a"), []string{"unlock"})
	if got := Changes(d.Effects); !slices.Equal(got, want) {
		t.Errorf("changes:\ngot  %v\nwant %v", got, want)
	}
	// The operator approved the lock and every upgrade, as the driver's approver.
	var approved []string
	for _, ev := range d.Events {
		if a, ok := ev.(runbook.Approve); ok {
			if a.By != "op@laptop" {
				t.Errorf("approval by %q", a.By)
			}
			approved = append(approved, string(a.Step))
		}
	}
	if want := []string{"lock", "upgrade/fw-b", "upgrade/fw-c", "upgrade/fw-a"}; !slices.Equal(approved, want) {
		t.Errorf("approved %v, want %v", approved, want)
	}
	// Leadership moved off fw-a when it stopped, to the longest-running voter.
	if c.Leader() != "fw-b" || c.Term() <= 7 {
		t.Errorf("leader %q term %d after the run", c.Leader(), c.Term())
	}
	if !c.Now().After(T0) {
		t.Errorf("the clock never moved: %s", c.Now())
	}
}

func TestFullRunFiveNodes(t *testing.T) {
	c := NewCluster(5, 2)
	d := NewDriver(t, c, c.Plan(t, DefaultPlanOptions()), runbook.MachineOptions{})
	d.AutoApprove = true
	d.Begin()
	d.RunToEnd()
	wantSuccess(t, d, "fw-c", []string{"fw-a", "fw-b", "fw-d", "fw-e", "fw-c"})
}

func TestHeadlessRunNeedsNoApprovals(t *testing.T) {
	c := NewCluster(3, 1)
	d := NewDriver(t, c, c.Plan(t, DefaultPlanOptions()), runbook.MachineOptions{Headless: true, Approver: "ci@runner"})
	d.Begin()
	d.RunToEnd()
	wantSuccess(t, d, "fw-b", []string{"fw-a", "fw-c", "fw-b"})
	for _, ev := range d.Events {
		if _, ok := ev.(runbook.Approve); ok {
			t.Fatalf("a headless run got an operator approval: %+v", ev)
		}
	}
}

func TestManyNodes(t *testing.T) {
	if got := []string{NodeName(0), NodeName(25), NodeName(26), NodeName(27), NodeName(51), NodeName(52)}; !slices.Equal(got,
		[]string{"fw-a", "fw-z", "fw-aa", "fw-ab", "fw-az", "fw-ba"}) {
		t.Fatalf("names %v", got)
	}
	c := NewCluster(50, 0)
	p := c.Plan(t, DefaultPlanOptions())
	if len(p.Nodes) != 50 || len(p.Warnings) != 0 {
		t.Fatalf("%d nodes, warnings %v", len(p.Nodes), p.Warnings)
	}
	d := NewDriver(t, c, p, runbook.MachineOptions{Headless: true})
	d.Begin()
	d.RunToEnd()
	order := slices.Clone(c.Names()[1:])
	wantSuccess(t, d, "fw-a", append(order, "fw-a"))
}

func TestStopsAtEachDialog(t *testing.T) {
	c := NewCluster(3, 0)
	d := NewDriver(t, c, c.Plan(t, DefaultPlanOptions()), runbook.MachineOptions{})
	if len(d.Effects) != 0 || d.M.Phase != runbook.PhaseConnect {
		t.Fatalf("the driver began the machine: %d effects, phase %s", len(d.Effects), d.M.Phase)
	}
	d.Begin()
	d.RunUntil(AwaitingApproval)
	s, _ := d.M.AwaitingApproval()
	if s.ID != "lock" || len(Changes(d.Effects)) != 0 {
		t.Fatalf("first dialog %s; changes before it %v", s.ID, Changes(d.Effects))
	}
	if !slices.Equal(d.M.Allowed()[:2], []runbook.Action{runbook.ActApprove, runbook.ActCancel}) {
		t.Fatalf("allowed %v", d.M.Allowed())
	}
	// Without an approval the driver only ticks: the dialog stays open.
	for range 30 {
		d.Step()
	}
	if s2, ok := d.M.AwaitingApproval(); !ok || s2.ID != "lock" || len(Changes(d.Effects)) != 0 {
		t.Fatalf("after ticking: dialog %v %s, changes %v", ok, s2.ID, Changes(d.Effects))
	}
	d.Act(runbook.ActApprove)
	d.RunUntil(AwaitingApproval)
	s, _ = d.M.AwaitingApproval()
	if s.ID != "upgrade/fw-b" || d.M.Phase != runbook.PhaseFollowers {
		t.Fatalf("second dialog %s phase %s", s.ID, d.M.Phase)
	}
	if n, _ := c.Node("fw-b"); !n.Up || n.Staged != New || n.Binary != Old {
		t.Fatalf("fw-b before its upgrade: %+v", n)
	}
	// The dialog shows the quorum arithmetic from the fake's snapshots.
	if !d.M.HaveSnapshot || d.M.Leader != "fw-a" || d.M.Gate.Summary() == "" {
		t.Fatalf("dialog: snapshot %v leader %q summary %q", d.M.HaveSnapshot, d.M.Leader, d.M.Gate.Summary())
	}
}

// wantNoStaged: no node is left with a <binary>.new.
func wantNoStaged(t *testing.T, c *Cluster) {
	t.Helper()
	for _, n := range c.Nodes() {
		if n.Staged != (runbook.BuildRef{}) {
			t.Errorf("%s still has %s staged in .new", n.Name, n.Staged.Label())
		}
	}
}

func TestNeverReadyHeadlessRollsBack(t *testing.T) {
	c := NewCluster(3, 0)
	c.NeverReadyOn("fw-b")
	d := NewDriver(t, c, c.Plan(t, DefaultPlanOptions()), runbook.MachineOptions{Headless: true})
	d.AutoApprove = true
	d.Begin()
	d.RunToEnd()
	if d.M.ExitCode != 4 || !slices.Equal(d.M.RolledBack, []string{"fw-b"}) {
		t.Fatalf("exit %d rolled back %v: %s", d.M.ExitCode, d.M.RolledBack, d.M.Reason)
	}
	n, _ := c.Node("fw-b")
	if n.Binary != Old || !n.Up {
		t.Fatalf("fw-b after the rollback: %+v", n)
	}
	for _, name := range []string{"fw-a", "fw-c"} {
		if n, _ := c.Node(name); n.Binary != Old || !n.Up || !n.Ready {
			t.Errorf("%s was touched: %+v", name, n)
		}
	}
	wantNoStaged(t, c)
	if mn, _ := d.M.NodeByName("fw-b"); mn.Status != runbook.NodeRolledBack || mn.Binary != Old {
		t.Errorf("machine fw-b: %s on %s", mn.Status, mn.Binary.Label())
	}
	// The gate ran for the whole timeout; the failure is gone with the rollback.
	if d.M.Failure != nil || d.M.Pause != nil || c.Now().Sub(T0) < DefaultPlanOptions().GateTimeout {
		t.Errorf("failure %+v pause %+v after %s", d.M.Failure, d.M.Pause, c.Now().Sub(T0))
	}
	if got := EffectsOf[runbook.TakeSysdump](d.Effects); len(got) < 2 || got[1].Purpose != runbook.SysdumpFailure {
		t.Errorf("sysdumps %+v", got)
	}
}

func TestNeverReadyPausesInteractive(t *testing.T) {
	c := NewCluster(3, 0)
	c.NeverReadyOn("fw-b")
	d := NewDriver(t, c, c.Plan(t, DefaultPlanOptions()), runbook.MachineOptions{})
	d.AutoApprove = true
	d.Begin()
	d.RunUntil(func(m runbook.Machine) bool { return m.Failure != nil })
	if !d.M.Failure.SysdumpPending || !slices.Equal(d.M.Allowed(), []runbook.Action{runbook.ActAbort, runbook.ActQuit}) {
		t.Fatalf("before the failure sysdump is back: pending %v allowed %v", d.M.Failure.SysdumpPending, d.M.Allowed())
	}
	d.RunUntil(Paused)
	m := d.M
	if m.Pause.Kind != runbook.PauseFailure || m.Pause.Node != "fw-b" {
		t.Fatalf("pause %+v", m.Pause)
	}
	f := m.Failure
	if f.Kind != runbook.FailTimeout || f.Node != "fw-b" || f.Step != "upgrade/fw-b" || f.Sysdump == "" ||
		!strings.Contains(f.Reason, "policy_replication") {
		t.Fatalf("failure %+v", f)
	}
	if got := f.At.Sub(T0); got < DefaultPlanOptions().GateTimeout {
		t.Errorf("failed %s after T0, before the gate timeout", got)
	}
	for _, a := range []runbook.Action{runbook.ActKeepWaiting, runbook.ActRollbackNode, runbook.ActRollbackAll, runbook.ActAbort} {
		if !m.IsAllowed(a) {
			t.Errorf("%s not allowed: %v", a, m.Allowed())
		}
	}
	if m.IsAllowed(runbook.ActRetry) {
		t.Errorf("retry offered for a gate timeout")
	}
	if n, _ := c.Node("fw-b"); n.Binary != New || !n.Up || n.Ready {
		t.Fatalf("fw-b at the pause: %+v", n)
	}
	// The pause waits as long as it takes.
	mark := len(d.Effects)
	for range 100 {
		d.Step()
	}
	if len(d.Effects) != mark || d.M.Pause == nil {
		t.Fatalf("the pause moved: %d new effects", len(d.Effects)-mark)
	}

	// Fixed in place: keep waiting passes the gate and the run completes.
	c.Heal("fw-b")
	d.Act(runbook.ActKeepWaiting)
	d.RunToEnd()
	if d.M.ExitCode != 0 {
		t.Fatalf("exit %d: %s", d.M.ExitCode, d.M.Reason)
	}
}

func TestRollbackNodeFromPause(t *testing.T) {
	c := NewCluster(3, 0)
	c.NeverReadyOn("fw-b")
	d := NewDriver(t, c, c.Plan(t, DefaultPlanOptions()), runbook.MachineOptions{})
	d.AutoApprove = true
	d.Begin()
	d.RunUntil(Paused)
	d.AutoApprove = false
	mark := len(d.Effects)
	d.Act(runbook.ActRollbackNode)
	d.RunUntil(AwaitingApproval)
	if s, _ := d.M.AwaitingApproval(); s.ID != "rollback/fw-b" {
		t.Fatalf("dialog %s", s.ID)
	}
	d.Act(runbook.ActApprove)
	d.RunToEnd()
	// The rollback's end removes the target staged on the nodes that never got it.
	if got, want := Changes(d.Effects[mark:]), []string{"stop fw-b", "rollback fw-b", "start fw-b", "unstage fw-a", "unstage fw-c", "unlock"}; !slices.Equal(got, want) {
		t.Fatalf("rollback changes %v, want %v", got, want)
	}
	if n, _ := c.Node("fw-b"); d.M.ExitCode != 4 || n.Binary != Old || n.Prev != (runbook.BuildRef{}) {
		t.Fatalf("exit %d, fw-b %+v", d.M.ExitCode, n)
	}
	wantNoStaged(t, c)
}

// A restart's swap fails in the middle of its chain: the stop and the
// .prev copy ran, the start did not (journaled as failed, never started),
// so fw-b stays stopped and the machine says so. Rolling fw-b back from
// the pause restores .prev and starts it without stopping it again.
func TestChainFailsMidwayThenRollBackTheNode(t *testing.T) {
	c := NewCluster(3, 0)
	c.FailNext("swap", "fw-b", errors.New("rename: read-only file system"))
	d := NewDriver(t, c, c.Plan(t, DefaultPlanOptions()), runbook.MachineOptions{})
	d.AutoApprove = true
	d.Begin()
	d.RunUntil(Paused)
	if f := d.M.Failure; f.Op != "swap" || f.Node != "fw-b" {
		t.Fatalf("failure %+v, want fw-b's swap", f)
	}
	if n, _ := c.Node("fw-b"); n.Up || n.Binary != Old || n.Prev != Old || n.Staged != New {
		t.Fatalf("fw-b after the failed swap: %+v; want stopped on the old build, .prev kept, the target staged", n)
	}
	if n, _ := d.M.NodeByName("fw-b"); !n.Down {
		t.Fatal("the machine counts fw-b up although its start never ran")
	}
	var startOutcome *runbook.Record
	for _, r := range EffectsOf[runbook.Record](d.Effects) {
		if r.Type == runbook.RecordOutcome && r.Op == "start" && r.Node == "fw-b" {
			startOutcome = &r
		}
	}
	if startOutcome == nil || startOutcome.OK || !strings.Contains(startOutcome.Error, "not run") {
		t.Fatalf("fw-b's start outcome %+v, want journaled as not run", startOutcome)
	}
	d.AutoApprove = false
	mark := len(d.Effects)
	d.Act(runbook.ActRollbackNode)
	d.RunUntil(AwaitingApproval)
	d.Act(runbook.ActApprove)
	d.RunToEnd()
	if got, want := Changes(d.Effects[mark:]), []string{"rollback fw-b", "start fw-b", "unstage fw-a", "unstage fw-b", "unstage fw-c", "unlock"}; !slices.Equal(got, want) {
		t.Fatalf("rollback changes %v, want %v", got, want)
	}
	if n, _ := c.Node("fw-b"); !n.Up || n.Binary != Old {
		t.Fatalf("fw-b after its rollback: %+v", n)
	}
}

func TestFailNextAndRetry(t *testing.T) {
	c := NewCluster(3, 0)
	boom := errors.New("ssh: exit status 1")
	c.FailNext("stop", "fw-c", boom)
	d := NewDriver(t, c, c.Plan(t, DefaultPlanOptions()), runbook.MachineOptions{})
	d.AutoApprove = true
	d.Begin()
	d.RunUntil(Paused)
	f := d.M.Failure
	if f.Kind != runbook.FailEffect || f.Op != "stop" || f.Node != "fw-c" || !strings.Contains(f.Reason, boom.Error()) {
		t.Fatalf("failure %+v", f)
	}
	if !d.M.IsAllowed(runbook.ActRetry) || d.M.IsAllowed(runbook.ActKeepWaiting) {
		t.Fatalf("allowed %v", d.M.Allowed())
	}
	// The failed stop did nothing: fw-c still runs; fw-b was upgraded.
	if n, _ := c.Node("fw-c"); !n.Up || n.Binary != Old {
		t.Fatalf("fw-c: %+v", n)
	}
	if n, _ := c.Node("fw-b"); n.Binary != New {
		t.Fatalf("fw-b: %+v", n)
	}
	d.Act(runbook.ActRetry)
	d.RunToEnd()
	wantSuccess(t, d, "fw-a", []string{"fw-b", "fw-c", "fw-a"})
}

func TestFailNextAnyNodeAndRefusal(t *testing.T) {
	c := NewCluster(3, 0)
	c.FailNext("lock", "", errors.New("locked by bob@desk since 11:00"))
	d := NewDriver(t, c, c.Plan(t, DefaultPlanOptions()), runbook.MachineOptions{Headless: true})
	d.Begin()
	d.RunToEnd()
	if d.M.ExitCode != 3 || !strings.Contains(d.M.Reason, "bob@desk") || len(Changes(d.Effects)) != 1 {
		t.Fatalf("exit %d (%s), changes %v", d.M.ExitCode, d.M.Reason, Changes(d.Effects))
	}
	defer func() {
		if recover() == nil {
			t.Fatal("FailNext took an unknown kind")
		}
	}()
	c.FailNext("restart", "fw-a", nil)
}

func TestNotReadyRefusesPreCheck(t *testing.T) {
	c := NewCluster(3, 0)
	c.NotReady("fw-c")
	d := NewDriver(t, c, c.Plan(t, DefaultPlanOptions()), runbook.MachineOptions{Headless: true})
	d.Begin()
	d.RunToEnd()
	if d.M.ExitCode != 3 || !strings.Contains(d.M.Reason, "fw-c") || len(Changes(d.Effects)) != 0 {
		t.Fatalf("exit %d (%s), changes %v", d.M.ExitCode, d.M.Reason, Changes(d.Effects))
	}
}

func TestSnapshot(t *testing.T) {
	c := NewCluster(3, 1)
	snap := c.Snapshot()
	if !snap.TakenAt.Equal(T0) || len(snap.Nodes) != 3 || snap.StatsErr != nil || snap.MembersErr != nil {
		t.Fatalf("snapshot %+v", snap)
	}
	l, ok := snap.Leader()
	if !ok || snap.NameOf(l.NodeID) != "fw-b" || snap.StatsFrom != "fw-b" || snap.MembersFrom != "fw-b" || c.Leader() != "fw-b" {
		t.Fatalf("leader row %+v ok %v from %q", l, ok, snap.StatsFrom)
	}
	if got := len(snap.Stats.Cluster.Nodes); got != 3 {
		t.Fatalf("%d catch-up rows", got)
	}
	for _, name := range c.Names() {
		id := NodeID(slices.Index(c.Names(), name))
		row, ok := snap.Row(id)
		if !ok || row.LagEntries == nil || *row.LagEntries != 0 || !row.CaughtUp {
			t.Fatalf("%s row %+v", name, row)
		}
		if m, ok := snap.Member(id); !ok || !m.IsVoter || (m.Role == "leader") != (name == "fw-b") {
			t.Fatalf("%s member %+v", name, m)
		}
		ns, _ := snap.Node(name)
		if ns.Health == nil || ns.Ready == nil || !ns.Ready.Ready || ns.Metrics == nil {
			t.Fatalf("%s: %+v", name, ns)
		}
		if isLeader := ns.Metrics.IsLeader; isLeader != (name == "fw-b") {
			t.Fatalf("%s raft_is_leader %v", name, isLeader)
		}
	}

	// A stopped follower falls behind and refuses connections.
	stop := runbook.NodeAction{EffectMeta: runbook.EffectMeta{ID: 41}, Node: "fw-c", Op: runbook.OpStop}
	if res, ok := c.Answer(stop).(runbook.EffectResult); !ok || res.ID != 41 || res.Err != nil {
		t.Fatalf("stop answered %#v", res)
	}
	for range 4 {
		c.Tick()
	}
	snap = c.Snapshot()
	row, _ := snap.Row(NodeID(2))
	if row.LagEntries == nil || *row.LagEntries != 4 || row.CaughtUp {
		t.Fatalf("fw-c row after 4 s down: %+v", row)
	}
	if ns, _ := snap.Node("fw-c"); !errors.Is(ns.HealthErr, health.ErrConnRefused) || ns.Ready != nil {
		t.Fatalf("fw-c down: %+v", ns)
	}
	if snap.Stats.Cluster.FollowersCaughtUp != 1 {
		t.Fatalf("followers caught up %d", snap.Stats.Cluster.FollowersCaughtUp)
	}

	// The leader stops: no leader for ElectAfter, then the longest-running up voter.
	c.Answer(runbook.NodeAction{EffectMeta: runbook.EffectMeta{ID: 42}, Node: "fw-c", Op: runbook.OpStart})
	term := c.Term()
	c.Answer(runbook.NodeAction{EffectMeta: runbook.EffectMeta{ID: 43}, Node: "fw-b", Op: runbook.OpStop})
	snap = c.Snapshot()
	if _, ok := snap.Leader(); ok || !health.IsLeaderUnknown(snap.StatsErr) || c.Leader() != "" {
		t.Fatalf("during the election: stats err %v leader %q", snap.StatsErr, c.Leader())
	}
	for range 3 {
		c.Tick()
	}
	if c.Leader() != "fw-a" || c.Term() != term+1 {
		t.Fatalf("after the election: leader %q term %d", c.Leader(), c.Term())
	}
	c.MoveLeader("fw-c")
	if l, ok := c.Snapshot().Leader(); !ok || l.NodeID != NodeID(2) || c.Term() != term+2 {
		t.Fatalf("after MoveLeader: %+v term %d", l, c.Term())
	}
}

func TestAnswerAndTick(t *testing.T) {
	c := NewCluster(3, 0)
	for _, e := range []runbook.Effect{runbook.Record{}, runbook.SaveBaseline{}, runbook.Finish{}} {
		if ev := c.Answer(e); ev != nil {
			t.Fatalf("%T answered with %#v", e, ev)
		}
	}
	if tk, ok := c.Tick().(runbook.Tick); !ok || !tk.Now.Equal(T0.Add(time.Second)) || !c.Now().Equal(tk.Now) {
		t.Fatalf("tick %#v now %s", tk, c.Now())
	}
	poll := runbook.PollHealth{EffectMeta: runbook.EffectMeta{ID: 7}, Nodes: c.Names()}
	s, ok := c.Answer(poll).(runbook.Snapshot)
	if !ok || s.ID != 7 || !s.At.Equal(c.Now()) || len(s.Snap.Nodes) != 3 {
		t.Fatalf("poll answered %#v", s)
	}
	// A poll fault on one node: that node's calls fail in the next snapshot only.
	c.FailNext("poll", "fw-c", errors.New("no route to host"))
	s = c.Answer(poll).(runbook.Snapshot)
	if ns, _ := s.Snap.Node("fw-c"); ns.HealthErr == nil || ns.Health != nil {
		t.Fatalf("fw-c in the faulty poll: %+v", ns)
	}
	if ns, _ := s.Snap.Node("fw-b"); ns.HealthErr != nil || s.Snap.Stats == nil {
		t.Fatalf("fw-b in the faulty poll: %+v", ns)
	}
	s = c.Answer(poll).(runbook.Snapshot)
	if ns, _ := s.Snap.Node("fw-c"); ns.HealthErr != nil {
		t.Fatalf("the poll fault outlived one poll: %v", ns.HealthErr)
	}
	files := c.Answer(runbook.ReadNodeFiles{EffectMeta: runbook.EffectMeta{ID: 8}, Nodes: []string{"fw-a"}}).(runbook.EffectResult)
	if nf, ok := files.Data.([]runbook.NodeFiles); !ok || len(nf) != 1 || nf[0].SHA256 != Old.SHA256 || !nf[0].Active || nf[0].NewPresent {
		t.Fatalf("read-files %#v", files)
	}
	if res := c.Answer(runbook.NodeAction{EffectMeta: runbook.EffectMeta{ID: 9}, Node: "fw-a", Op: runbook.OpSwap}).(runbook.EffectResult); res.Err == nil {
		t.Fatal("swap without .new succeeded")
	}
	if res := c.Answer(runbook.NodeAction{EffectMeta: runbook.EffectMeta{ID: 10}, Node: "fw-z", Op: runbook.OpStop}).(runbook.EffectResult); res.Err == nil {
		t.Fatal("stop of an unknown node succeeded")
	}
}

func TestSetBuildSkipsNodesOnTarget(t *testing.T) {
	c := NewCluster(3, 0)
	c.SetBuild("fw-c", New)
	d := NewDriver(t, c, c.Plan(t, DefaultPlanOptions()), runbook.MachineOptions{Headless: true})
	d.Begin()
	d.RunToEnd()
	if d.M.ExitCode != 0 || !slices.Equal(swapOrder(d.Effects), []string{"fw-b", "fw-a"}) {
		t.Fatalf("exit %d swaps %v: %s", d.M.ExitCode, swapOrder(d.Effects), d.M.Reason)
	}
	if n, _ := d.M.NodeByName("fw-c"); n.Status != runbook.NodeOnTarget {
		t.Fatalf("fw-c: %s", n.Status)
	}
}
