// Package rollouttest provides a deterministic fake Neuwerk cluster for
// driving a real runbook.Machine in tests, in the spirit of
// net/http/httptest.
//
// A Cluster stands in for both the executor and the cluster: Answer
// performs one effect at once, at the cluster's current time, and returns
// the event that answers it; time moves only on Tick, one second at a
// time. The cluster writes one Raft entry per second, elects the
// longest-running up voter about 3 s after the leader stops, and serves
// health snapshots built by hand in the shapes of package health.
//
// The Cluster does not own a machine. Tests that keep their own machine
// (a console model, say) feed it c.Answer(e) for every effect that needs
// an answer and c.Tick() when nothing is pending. Tests that just want to
// reach a state use a Driver, which owns a machine and does that loop:
//
//	c := rollouttest.NewCluster(3, 0)
//	d := rollouttest.NewDriver(t, c, c.Plan(t, rollouttest.DefaultPlanOptions()), runbook.MachineOptions{})
//	d.Begin()
//	d.RunUntil(rollouttest.AwaitingApproval)
package rollouttest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// ClusterName is the cluster name Plan gives the plan.
const ClusterName = "lab"

// The fixed time a Cluster starts at, and the builds it knows: every node
// starts on Old, Plan targets New, and Bad (like release 1.1.1-never-ready)
// never becomes ready on any node that runs it.
var (
	T0  = time.Date(2026, 4, 4, 12, 0, 0, 0, time.UTC)
	Old = runbook.BuildRef{Version: "1.0.0", SHA256: strings.Repeat("a1", 32)}
	New = runbook.BuildRef{Version: "1.1.0", SHA256: strings.Repeat("b2", 32)}
	Bad = runbook.BuildRef{Version: "1.1.1-never-ready", SHA256: strings.Repeat("c3", 32)}
)

// How the fake behaves, in seconds of its clock.
const (
	// ReadyAfter is how long a started node takes to pass /ready.
	ReadyAfter = 2 * time.Second
	// ElectAfter is how long after the leader stops a new one is elected.
	ElectAfter = 3 * time.Second
)

// NodeName is the inventory name of node i: fw-a … fw-z, then fw-aa, fw-ab…
func NodeName(i int) string {
	var b []byte
	for i++; i > 0; i = (i - 1) / 26 {
		b = append(b, byte('a'+(i-1)%26))
	}
	slices.Reverse(b)
	return "fw-" + string(b)
}

// NodeID is the decimal API node id of node i.
func NodeID(i int) string { return fmt.Sprintf("%d", 1000000+i*7919) }

// DefaultPlanOptions are short gates for tests: live backups (no node is
// stopped to back it up, so leadership moves only when the leader is
// upgraded), a 5 s stabilisation window, a 2 min gate timeout and a 20 s
// election window.
func DefaultPlanOptions() runbook.PlanOptions {
	return runbook.PlanOptions{
		Backup:         runbook.BackupLive,
		Window:         5 * time.Second,
		GateTimeout:    2 * time.Minute,
		ElectionWindow: 20 * time.Second,
	}
}

type node struct {
	name, id   string
	addr       string
	voter      bool
	up         bool
	startedAt  time.Time
	bin        string   // sha256 of <binary>
	newBin     string   // of <binary>.new; "" when absent
	prevBin    string   // of <binary>.prev; "" when absent
	neverReady bool     // the target release never becomes ready here
	notReady   bool     // /ready fails whatever the build
	applied    uint64   // raft_last_applied
	journal    []string // the service log: what the unit did, as journalctl shows it

	peerErrs *health.Metrics // the parsed raft_peer_errors_total series, constant
}

type fault struct {
	kind, node string
	err        error
}

// Cluster is a deterministic stand-in for the executor and a Neuwerk
// cluster. It is not safe for concurrent use.
type Cluster struct {
	now         time.Time
	nodes       []*node
	leader      string
	term        uint64
	index       uint64
	electAt     time.Time
	faults      []fault
	maxDown     int
	sysdumps    int             // taken so far, to name the next
	chainBroken map[string]bool // an operation of the node's chain failed: the rest do not run
}

// NewCluster returns a cluster of nodes voters named NodeName(0)… (fw-a,
// fw-b, …), all up and ready on Old, of which node leaderIdx leads (a
// negative leaderIdx: no leader, and none is ever elected until
// MoveLeader). Now starts at T0.
func NewCluster(nodes, leaderIdx int) *Cluster {
	if nodes < 1 || leaderIdx >= nodes {
		panic(fmt.Sprintf("rollouttest: NewCluster(%d, %d): need at least one node and a leader among them", nodes, leaderIdx))
	}
	c := &Cluster{now: T0, term: 7, index: 1000, chainBroken: map[string]bool{}}
	for i := 0; i < nodes; i++ {
		c.nodes = append(c.nodes, &node{name: NodeName(i), id: NodeID(i), addr: fmt.Sprintf("10.0.%d.%d:9443", i/250, 10+i%250),
			voter: true, up: true, startedAt: T0.Add(-time.Hour), bin: Old.SHA256, applied: c.index})
		n := c.nodes[i]
		n.log(n.startedAt, "systemd[1]: Started neuwerk.service - Neuwerk.")
		n.log(n.startedAt, "neuwerk: starting neuwerk: release="+Old.Version)
	}
	if leaderIdx >= 0 {
		c.leader = c.nodes[leaderIdx].name
	}
	return c
}

// log appends a line to the node's service log, stamped like journalctl.
func (n *node) log(at time.Time, text string) {
	n.journal = append(n.journal, at.UTC().Format("Jan 02 15:04:05")+" "+n.name+" "+text)
}

// releaseOf is the version of a build the fake knows.
func releaseOf(sha string) string {
	for _, b := range []runbook.BuildRef{Old, New} {
		if b.SHA256 == sha {
			return b.Version
		}
	}
	return "unknown"
}

// ServiceLog is the last lines of the node's service log, as
// `journalctl -u neuwerk.service -n lines` prints them.
func (c *Cluster) ServiceLog(node string, lines int) []string {
	j := c.must(node).journal
	return append([]string(nil), j[max(0, len(j)-lines):]...)
}

// Now is the cluster's clock.
func (c *Cluster) Now() time.Time { return c.now }

// Leader is the name of the leader, or "" during an election.
func (c *Cluster) Leader() string { return c.leader }

// Term is the current Raft term.
func (c *Cluster) Term() uint64 { return c.term }

// Index is the leader's last log index.
func (c *Cluster) Index() uint64 { return c.index }

// MaxDown is the most nodes that were down at once so far.
func (c *Cluster) MaxDown() int { return c.maxDown }

// Names lists the nodes in inventory order.
func (c *Cluster) Names() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.name
	}
	return out
}

// Node is what the fake knows of one node.
type Node struct {
	Name, ID  string
	Voter     bool
	Up        bool // the service runs
	Ready     bool // /ready would pass now
	StartedAt time.Time
	Binary    runbook.BuildRef // <binary>
	Staged    runbook.BuildRef // <binary>.new; zero when absent
	Prev      runbook.BuildRef // <binary>.prev; zero when absent
	Applied   uint64           // raft_last_applied
}

// Node returns the node with the inventory name.
func (c *Cluster) Node(name string) (Node, bool) {
	n := c.find(name)
	if n == nil {
		return Node{}, false
	}
	return c.view(n), true
}

// Nodes lists every node in inventory order.
func (c *Cluster) Nodes() []Node {
	out := make([]Node, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = c.view(n)
	}
	return out
}

func (c *Cluster) view(n *node) Node {
	return Node{Name: n.name, ID: n.id, Voter: n.voter, Up: n.up, Ready: c.ready(n), StartedAt: n.startedAt,
		Binary: build(n.bin), Staged: build(n.newBin), Prev: build(n.prevBin), Applied: n.applied}
}

// build names a sha256 as one of Old, New, Bad, or an unknown build.
func build(sha string) runbook.BuildRef {
	for _, b := range []runbook.BuildRef{Old, New, Bad} {
		if b.SHA256 == sha {
			return b
		}
	}
	return runbook.BuildRef{SHA256: sha}
}

// PlanInput is the input BuildPlan gets from the cluster as it is now:
// the nodes in inventory order with their builds and the leader, target
// New, Known {Old, New, Bad}. Change it to plan something else.
func (c *Cluster) PlanInput(opts runbook.PlanOptions) runbook.PlanInput {
	in := runbook.PlanInput{Cluster: ClusterName, Target: New, Known: []runbook.BuildRef{Old, New, Bad}, Options: opts}
	for _, n := range c.nodes {
		in.Nodes = append(in.Nodes, runbook.PlanNode{Name: n.name, NodeID: n.id, Voter: n.voter,
			Leader: n.name == c.leader, Current: build(n.bin)})
	}
	return in
}

// Plan builds the plan for upgrading the cluster as it is now to New.
func (c *Cluster) Plan(t testing.TB, opts runbook.PlanOptions) runbook.Plan {
	t.Helper()
	p, err := runbook.BuildPlan(c.PlanInput(opts))
	if err != nil {
		t.Fatalf("rollouttest: BuildPlan: %v", err)
	}
	return p
}

// ---- faults and changes made by the test ----

// effectKinds are the Kind() of every effect that gets an answer.
var effectKinds = []string{
	runbook.ConnectNodes{}.Kind(), runbook.ReadNodeFiles{}.Kind(), runbook.PollHealth{}.Kind(),
	runbook.TakeSysdump{}.Kind(), runbook.LockNodes{}.Kind(), runbook.UnlockNodes{}.Kind(),
	runbook.VerifyBackupSet{}.Kind(),
	runbook.OpStage.String(), runbook.OpBackup.String(), runbook.OpStop.String(), runbook.OpKeepPrev.String(),
	runbook.OpSwap.String(), runbook.OpRestorePrev.String(), runbook.OpStart.String(), runbook.OpUnstage.String(),
}

// FailNext makes the next effect of that Kind() ("stop", "start", "swap",
// "rollback", "stage", "lock", "read-files"…) on node fail with err (a
// generic error when nil), without doing anything. node "" matches any
// node; for effects on several nodes (connect, read-files, lock…) a node
// matches when the effect names it. A "poll" fault does not fail the poll:
// the next snapshot shows node's calls failing with err (every node's, and
// stats and members, for node ""). Faults queue in the order given.
func (c *Cluster) FailNext(kind, node string, err error) {
	if !slices.Contains(effectKinds, kind) {
		panic(fmt.Sprintf("rollouttest: FailNext: no effect of kind %q (kinds: %s)", kind, strings.Join(effectKinds, ", ")))
	}
	if node != "" {
		c.must(node)
	}
	if err == nil {
		err = fmt.Errorf("injected %s failure", kind)
	}
	c.faults = append(c.faults, fault{kind: kind, node: node, err: err})
}

// NeverReadyOn makes the target release New never become ready on node:
// once it runs New, its /ready fails policy_replication (like release
// 1.1.1-never-ready). Heal undoes it.
func (c *Cluster) NeverReadyOn(node string) { c.must(node).neverReady = true }

// NotReady makes node's /ready fail whatever it runs (a pre-check
// refusal, or a slow warm-up); Heal undoes it.
func (c *Cluster) NotReady(node string) { c.must(node).notReady = true }

// Heal clears NeverReadyOn and NotReady on node: the release is fixed in
// place, so node becomes ready (if it runs) from the next check on.
func (c *Cluster) Heal(node string) {
	n := c.must(node)
	n.neverReady, n.notReady = false, false
}

// SetBuild puts build b in place on node (before Plan, for a node that is
// already on the target, say).
func (c *Cluster) SetBuild(node string, b runbook.BuildRef) { c.must(node).bin = b.SHA256 }

// Files is the nodes' real state as ReadNodeFiles reads it: every node's,
// or the named ones'.
func (c *Cluster) Files(names ...string) []runbook.NodeFiles {
	if len(names) == 0 {
		names = c.Names()
	}
	var files []runbook.NodeFiles
	for _, name := range names {
		n := c.must(name)
		files = append(files, runbook.NodeFiles{Node: name, SHA256: n.bin, NewPresent: n.newBin != "", NewSHA256: n.newBin,
			PrevPresent: n.prevBin != "", PrevSHA256: n.prevBin, Active: n.up, Unit: unitOf(n)})
	}
	return files
}

// unitOf is n's unit as systemctl show reports it: running while up,
// stopped by hand while down.
func unitOf(n *node) health.Unit {
	if !n.up {
		return health.Unit{ActiveState: "inactive", SubState: "dead"}
	}
	return health.Unit{ActiveState: "active", SubState: "running"}
}

// MoveLeader makes name the leader in a new term (an election).
func (c *Cluster) MoveLeader(name string) {
	c.must(name)
	c.leader, c.term, c.electAt = name, c.term+1, time.Time{}
}

func (c *Cluster) find(name string) *node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

func (c *Cluster) must(name string) *node {
	n := c.find(name)
	if n == nil {
		panic(fmt.Sprintf("rollouttest: no node %q (nodes: %s)", name, strings.Join(c.Names(), ", ")))
	}
	return n
}

func (c *Cluster) ready(n *node) bool {
	if !n.up || n.notReady || n.bin == Bad.SHA256 || (n.neverReady && n.bin == New.SHA256) {
		return false
	}
	return c.now.Sub(n.startedAt) >= ReadyAfter && c.leader != ""
}

// effectNodes are the nodes an effect names.
func effectNodes(e runbook.Effect) []string {
	switch e := e.(type) {
	case runbook.ConnectNodes:
		return e.Nodes
	case runbook.ReadNodeFiles:
		return e.Nodes
	case runbook.PollHealth:
		return e.Nodes
	case runbook.TakeSysdump:
		return e.Nodes
	case runbook.LockNodes:
		return e.Nodes
	case runbook.UnlockNodes:
		return e.Nodes
	case runbook.VerifyBackupSet:
		return e.Nodes
	}
	if n := runbook.EffectNode(e); n != "" {
		return []string{n}
	}
	return nil
}

// takeFault removes and returns the first fault that matches e.
func (c *Cluster) takeFault(e runbook.Effect) (fault, bool) {
	for i, f := range c.faults {
		if f.kind != e.Kind() {
			continue
		}
		if _, poll := e.(runbook.PollHealth); poll || f.node == "" || slices.Contains(effectNodes(e), f.node) {
			c.faults = slices.Delete(c.faults, i, i+1)
			return f, true
		}
	}
	return fault{}, false
}

// ---- effects and time ----

// Answer performs e on the fake at once and returns its answer: a
// runbook.Snapshot for PollHealth, a runbook.EffectResult for the rest, or
// nil for effects that need none (Record, SaveBaseline, Finish).
func (c *Cluster) Answer(e runbook.Effect) runbook.Event {
	if e == nil || !runbook.EffectNeedsResult(e) {
		return nil
	}
	id := e.Meta().ID
	f, faulty := c.takeFault(e)
	if p, ok := e.(runbook.PollHealth); ok {
		snap := c.Snapshot()
		if faulty {
			failCalls(&snap, f.node, f.err)
		}
		return runbook.Snapshot{ID: p.ID, Snap: snap, At: c.now}
	}
	// The operations of a chain run in order in one command: after one
	// fails, the rest answer "not run" and do nothing.
	a, chained := e.(runbook.NodeAction)
	chained = chained && a.ChainLen > 1
	if chained && a.ChainPos == 0 {
		delete(c.chainBroken, a.Node)
	}
	if chained && c.chainBroken[a.Node] {
		return runbook.EffectResult{ID: id, At: c.now, Err: fmt.Errorf("%s on %s: not run: an earlier operation of its chain failed", a.Op, a.Node)}
	}
	if faulty {
		if chained {
			c.chainBroken[a.Node] = true
		}
		return runbook.EffectResult{ID: id, At: c.now, Err: f.err}
	}
	for _, name := range effectNodes(e) {
		if c.find(name) == nil {
			return runbook.EffectResult{ID: id, At: c.now, Err: fmt.Errorf("rollouttest: no node %q", name)}
		}
	}
	res := runbook.EffectResult{ID: id, At: c.now}
	switch e := e.(type) {
	case runbook.ReadNodeFiles:
		res.Data = c.Files(e.Nodes...)
	case runbook.TakeSysdump:
		// Numbered per purpose, not by effect id: how many polls ran before
		// it is the scheduler's business, the name is not.
		c.sysdumps++
		res.Data = runbook.SysdumpInfo{Path: fmt.Sprintf("sysdump-%s-%d.tar.gz", e.Purpose, c.sysdumps)}
	case runbook.NodeAction:
		n := c.find(e.Node)
		switch e.Op {
		case runbook.OpStage:
			n.newBin = e.SHA256
		case runbook.OpBackup:
			res.Data = runbook.BackupInfo{Set: "set-1", Path: runbook.DefaultBackupDir + "/" + e.Node + ".tar.gz", SHA256: strings.Repeat("d4", 32)}
		case runbook.OpStop:
			n.log(c.now, "systemd[1]: Stopping neuwerk.service - Neuwerk...")
			n.log(c.now, "systemd[1]: neuwerk.service: Deactivated successfully.")
			n.up = false
			if c.leader == n.name {
				c.leader, c.electAt = "", c.now.Add(ElectAfter)
			}
		case runbook.OpKeepPrev:
			n.prevBin = n.bin
		case runbook.OpSwap:
			if n.newBin == "" {
				res.Err = errors.New("no .new to swap in")
				break
			}
			n.bin, n.newBin = n.newBin, ""
		case runbook.OpRestorePrev:
			if n.prevBin == "" {
				res.Err = errors.New("no .prev to restore")
				break
			}
			n.bin, n.prevBin = n.prevBin, ""
		case runbook.OpStart:
			if !n.up {
				n.up, n.startedAt = true, c.now
				n.log(c.now, "systemd[1]: Started neuwerk.service - Neuwerk.")
				n.log(c.now, "neuwerk: starting neuwerk: release="+releaseOf(n.bin))
				if n.neverReady && n.bin == New.SHA256 {
					n.log(c.now, "neuwerk: WARN policy replication not caught up: waiting for the leader's policy")
				}
			}
		case runbook.OpUnstage:
			// Like the executor: only the staged target goes; a .new
			// already gone is done.
			if n.newBin != "" && n.newBin != runbook.NormSHA(e.SHA256) {
				res.Err = errors.New("<binary>.new is not the staged target: left in place")
				break
			}
			n.newBin = ""
		}
	}
	down := 0
	for _, n := range c.nodes {
		if !n.up {
			down++
		}
	}
	c.maxDown = max(c.maxDown, down)
	if chained && res.Err != nil {
		c.chainBroken[a.Node] = true
	}
	return res
}

// Tick advances the clock one second (one Raft entry, applied by every
// ready node; an election when one is due) and returns the machine's tick.
func (c *Cluster) Tick() runbook.Event {
	c.now = c.now.Add(time.Second)
	c.index++
	for _, n := range c.nodes {
		if c.ready(n) {
			n.applied = c.index
		}
	}
	if c.leader == "" && !c.electAt.IsZero() && !c.now.Before(c.electAt) {
		c.elect()
	}
	return runbook.Tick{Now: c.now}
}

// elect makes the longest-running up voter the leader, given a quorum.
func (c *Cluster) elect() {
	up := 0
	var best *node
	for _, n := range c.nodes {
		if n.up && n.voter {
			up++
			if best == nil || n.startedAt.Before(best.startedAt) {
				best = n
			}
		}
	}
	if best == nil || up < health.Quorum(len(c.nodes)) {
		return
	}
	c.leader, c.term, c.electAt = best.name, c.term+1, time.Time{}
}

// ---- snapshots ----

// Snapshot is what a poll of every node would see now: /health, /ready
// and /metrics per node, and the leader's stats (with one catch-up row per
// node) and membership. Without a leader, stats and members fail with 503
// "leader unknown"; a stopped node's calls fail with connection refused.
func (c *Cluster) Snapshot() health.ClusterSnapshot {
	snap := health.ClusterSnapshot{TakenAt: c.now}
	for _, n := range c.nodes {
		ns := health.NodeSnapshot{Name: n.name, NodeID: n.id, APIURL: c.apiURL(n), TakenAt: c.now}
		if !n.up {
			ns.HealthErr = c.refused(n, "/health")
			ns.ReadyErr = c.refused(n, "/ready")
			ns.MetricsErr = c.refused(n, "/metrics")
		} else {
			ns.Health = &health.HealthResponse{Status: "ok"}
			ns.Ready = readyResponse(c.ready(n))
			ns.Metrics = c.metrics(n)
		}
		snap.Nodes = append(snap.Nodes, ns)
	}
	l := c.leaderNode()
	if l == nil {
		from := c.firstUp()
		snap.StatsErr = c.leaderUnknown(from, "/api/v1/stats")
		snap.MembersErr = c.leaderUnknown(from, "/api/v1/cluster/members")
		return snap
	}
	st := &health.Stats{Cluster: health.ClusterStats{IsLeader: true, CurrentTerm: c.term, LastLogIndex: c.index,
		LastApplied: c.index, NodeCount: uint64(len(c.nodes)), FollowerCount: uint64(len(c.nodes) - 1)}}
	lead, zero := c.index, uint64(0)
	st.Cluster.Nodes = append(st.Cluster.Nodes, health.NodeCatchup{NodeID: l.id, Addr: l.addr, Role: "leader",
		MatchedIndex: &lead, LagEntries: &zero, CaughtUp: true})
	var rows []health.NodeCatchup
	for _, n := range c.nodes {
		if n == l {
			continue
		}
		matched := n.applied
		lag := c.index - matched
		if lag == 0 {
			st.Cluster.FollowersCaughtUp++
		}
		rows = append(rows, health.NodeCatchup{NodeID: n.id, Addr: n.addr, Role: "follower", MatchedIndex: &matched, LagEntries: &lag, CaughtUp: lag == 0})
	}
	// Followers come ordered by node_id as a string (facts §2).
	sort.Slice(rows, func(a, b int) bool { return rows[a].NodeID < rows[b].NodeID })
	st.Cluster.Nodes = append(st.Cluster.Nodes, rows...)
	snap.Stats, snap.StatsFrom = st, l.name
	mem := &health.MembersResponse{}
	for _, n := range c.nodes {
		role := "follower"
		if n == l {
			role = "leader"
		}
		mem.Members = append(mem.Members, health.Member{NodeID: n.id, Addr: n.addr, Role: role, IsVoter: n.voter})
	}
	snap.Members, snap.MembersFrom = mem, l.name
	return snap
}

// failCalls makes node's calls in snap fail with err (every node's, and
// stats and members, for node "").
func failCalls(snap *health.ClusterSnapshot, node string, err error) {
	for i := range snap.Nodes {
		ns := &snap.Nodes[i]
		if node != "" && ns.Name != node {
			continue
		}
		ns.Health, ns.Ready, ns.Metrics = nil, nil, nil
		ns.HealthErr, ns.ReadyErr, ns.MetricsErr = err, err, err
	}
	if node == "" || snap.StatsFrom == node {
		snap.Stats, snap.StatsFrom, snap.StatsErr = nil, "", err
		snap.Members, snap.MembersFrom, snap.MembersErr = nil, "", err
	}
}

func (c *Cluster) apiURL(n *node) string { return "https://" + n.name + ":8443" }

func (c *Cluster) refused(n *node, path string) error {
	return &health.TransportError{Node: n.name, URL: c.apiURL(n), Method: http.MethodGet, Path: path, Kind: health.KindRefused,
		Detail: "connection refused: nothing listens on the port; the node is down or still starting", Err: errors.New("connect: connection refused")}
}

func (c *Cluster) leaderUnknown(from *node, path string) error {
	e := &health.APIError{Method: http.MethodGet, Path: path, Status: http.StatusServiceUnavailable, Message: "leader unknown"}
	if from != nil {
		e.Node, e.URL = from.name, c.apiURL(from)
	}
	return e
}

func (c *Cluster) firstUp() *node {
	for _, n := range c.nodes {
		if n.up {
			return n
		}
	}
	return nil
}

func (c *Cluster) leaderNode() *node {
	if c.leader == "" {
		return nil
	}
	if n := c.find(c.leader); n != nil && n.up {
		return n
	}
	return nil
}

func readyResponse(ok bool) *health.ReadyResponse {
	r := &health.ReadyResponse{Ready: ok}
	for _, name := range health.ReadyCheckNames {
		ch := health.ReadyCheck{Name: name, OK: true}
		if !ok && name == health.CheckPolicyReplication {
			ch.OK = false
			d := health.ReadyCheckDetails[name]
			ch.Detail = &d
		}
		r.Checks = append(r.Checks, ch)
	}
	return r
}

func (c *Cluster) metrics(n *node) *health.Metrics {
	var b strings.Builder
	isLeader := 0
	if c.leader == n.name {
		isLeader = 1
	}
	fmt.Fprintf(&b, "# TYPE raft_is_leader gauge\nraft_is_leader %d\n", isLeader)
	fmt.Fprintf(&b, "# TYPE raft_current_term gauge\nraft_current_term %d\n", c.term)
	fmt.Fprintf(&b, "# TYPE raft_last_log_index gauge\nraft_last_log_index %d\n", c.index)
	fmt.Fprintf(&b, "# TYPE raft_last_applied gauge\nraft_last_applied %d\n", n.applied)
	m := parseMetrics(b.String())
	// The peer error counters never move (every peer at 0): parse them
	// once per node, as parsing them on every poll makes a 50-node run
	// slow, and share the parsed family (read-only) in every scrape.
	if n.peerErrs == nil {
		b.Reset()
		b.WriteString("# TYPE raft_peer_errors_total counter\n")
		for _, p := range c.nodes {
			if p != n {
				fmt.Fprintf(&b, "raft_peer_errors_total{peer_id=%q,rpc=\"append_entries\",kind=\"timeout\"} 0\n", p.id)
			}
		}
		n.peerErrs = parseMetrics(b.String())
	}
	if f, ok := n.peerErrs.Families[health.MetricRaftPeerErrors]; ok {
		m.Families[health.MetricRaftPeerErrors] = f
	}
	m.PeerErrorSamples = slices.Clone(n.peerErrs.PeerErrorSamples)
	return m
}

func parseMetrics(text string) *health.Metrics {
	m, err := health.ParseMetrics(strings.NewReader(text))
	if err != nil {
		panic("rollouttest: the fake's metrics do not parse: " + err.Error())
	}
	return m
}

// ---- the driver ----

// DefaultMaxSteps bounds RunUntil and RunToEnd.
const DefaultMaxSteps = 50000

// Driver owns a machine and answers its effects from a Cluster, for tests
// that just want to reach a state. Effects are answered one at a time, in
// the order they were emitted; the clock moves only when none is pending.
type Driver struct {
	M runbook.Machine
	C *Cluster

	// AutoApprove makes Step approve every open approval dialog as
	// Approver. Off by default: Step then only ticks while a dialog is
	// open, so RunUntil(AwaitingApproval) stops at each dialog and
	// RunToEnd of an interactive run fails at the first one.
	AutoApprove bool
	Approver    string // By of the approvals the driver sends; "op@laptop"
	MaxSteps    int    // bound of RunUntil and RunToEnd; DefaultMaxSteps

	Effects []runbook.Effect // every effect the machine returned, in order
	Events  []runbook.Event  // every event sent, in order

	t       testing.TB
	queue   []runbook.Effect
	intents map[runbook.EffectID]bool
}

// NewDriver returns a driver for a new machine on plan p. The machine has
// not begun: send runbook.Begin (or call Begin) first.
func NewDriver(t testing.TB, c *Cluster, p runbook.Plan, mo runbook.MachineOptions) *Driver {
	return NewDriverOn(t, c, runbook.NewMachine(p, mo))
}

// NewDriverOn returns a driver for machine m on cluster c: a resumed run's
// machine, say, on the cluster an earlier driver left.
func NewDriverOn(t testing.TB, c *Cluster, m runbook.Machine) *Driver {
	return &Driver{M: m, C: c, Approver: "op@laptop", MaxSteps: DefaultMaxSteps,
		t: t, intents: map[runbook.EffectID]bool{}}
}

// Begin sends runbook.Begin at the cluster's time.
func (d *Driver) Begin() []runbook.Effect {
	d.t.Helper()
	return d.Send(runbook.Begin{At: d.C.Now()})
}

// Act sends the event of an operator action at the cluster's time (an
// approval approves the open dialog, as d.Approver).
func (d *Driver) Act(a runbook.Action) []runbook.Effect {
	d.t.Helper()
	s, _ := d.M.AwaitingApproval()
	return d.Send(runbook.ActionEvent(a, s.ID, d.Approver, d.C.Now()))
}

// Send feeds ev to the machine, queues the effects that need an answer and
// returns all of them. It fails the test when a node-changing effect has
// no journal intent before it.
func (d *Driver) Send(ev runbook.Event) []runbook.Effect {
	d.t.Helper()
	d.Events = append(d.Events, ev)
	effs := d.M.Handle(ev)
	for _, e := range effs {
		if r, ok := e.(runbook.Record); ok && r.Type == runbook.RecordIntent {
			d.intents[r.For] = true
		}
		if runbook.EffectChangesNode(e) && !d.intents[e.Meta().ID] {
			d.t.Fatalf("rollouttest: %s%s (id %d) has no journal intent before it", e.Kind(), onNode(runbook.EffectNode(e)), e.Meta().ID)
		}
		d.Effects = append(d.Effects, e)
		if runbook.EffectNeedsResult(e) {
			d.queue = append(d.queue, e)
		}
	}
	return effs
}

// Pending lists the effects waiting for an answer, oldest first.
func (d *Driver) Pending() []runbook.Effect { return slices.Clone(d.queue) }

// Step answers the oldest pending effect; with none, approves the open
// dialog if AutoApprove; else ticks the clock.
func (d *Driver) Step() {
	d.t.Helper()
	if len(d.queue) > 0 {
		e := d.queue[0]
		d.queue = d.queue[1:]
		d.Send(d.C.Answer(e))
		return
	}
	if s, ok := d.M.AwaitingApproval(); ok && d.AutoApprove {
		d.Send(runbook.Approve{Step: s.ID, By: d.Approver, At: d.C.Now()})
		return
	}
	d.Send(d.C.Tick())
}

// RunUntil steps until cond holds. It fails the test if the machine
// finishes first or cond does not hold within MaxSteps.
func (d *Driver) RunUntil(cond func(runbook.Machine) bool) {
	d.t.Helper()
	for i := 0; i < d.maxSteps(); i++ {
		if cond(d.M) {
			return
		}
		if d.M.Finished {
			d.t.Fatalf("rollouttest: the machine finished (exit %d: %s) before the condition held", d.M.ExitCode, d.M.Reason)
		}
		d.Step()
	}
	d.t.Fatalf("rollouttest: the condition did not hold within %d steps; %s", d.maxSteps(), d.State())
}

// RunToEnd steps until the machine finishes. It fails the test if it does
// not within MaxSteps (e.g. it waits at a dialog and AutoApprove is off, or
// at a failure pause).
func (d *Driver) RunToEnd() {
	d.t.Helper()
	for i := 0; i < d.maxSteps() && !d.M.Finished; i++ {
		d.Step()
	}
	if !d.M.Finished {
		d.t.Fatalf("rollouttest: the machine did not finish within %d steps; %s", d.maxSteps(), d.State())
	}
}

func (d *Driver) maxSteps() int {
	if d.MaxSteps > 0 {
		return d.MaxSteps
	}
	return DefaultMaxSteps
}

// State describes where the machine stands, for failure messages.
func (d *Driver) State() string {
	m := d.M
	var b strings.Builder
	fmt.Fprintf(&b, "at %s phase %s", d.C.Now().Sub(T0), m.Phase)
	if s, ok := m.Current(); ok {
		fmt.Fprintf(&b, ", step %s (%s)", s.ID, s.Status)
	}
	if s, ok := m.AwaitingApproval(); ok {
		fmt.Fprintf(&b, ", awaiting approval of %s (AutoApprove %v)", s.ID, d.AutoApprove)
	}
	if m.Gate.Open {
		fmt.Fprintf(&b, ", gate %s ok=%v", m.Gate.Name, m.Gate.OK())
	}
	if m.Pause != nil {
		fmt.Fprintf(&b, ", paused (%d): %s", m.Pause.Kind, m.Pause.Text)
	}
	if m.Failure != nil {
		fmt.Fprintf(&b, ", failure %s: %s", m.Failure.Kind, m.Failure.Reason)
	}
	if m.LastError != "" {
		fmt.Fprintf(&b, ", last error %s", m.LastError)
	}
	fmt.Fprintf(&b, ", allowed %v, %d effect(s) pending", m.Allowed(), len(d.queue))
	return b.String()
}

// ---- conditions for RunUntil ----

// AwaitingApproval holds while an approval dialog is open.
func AwaitingApproval(m runbook.Machine) bool { _, ok := m.AwaitingApproval(); return ok }

// Paused holds while the machine waits for the operator's decision, once a
// failure's sysdump is back (nothing is offered but abort and quit before).
func Paused(m runbook.Machine) bool {
	return m.Pause != nil && (m.Failure == nil || !m.Failure.SysdumpPending)
}

// Finished holds once the machine has finished.
func Finished(m runbook.Machine) bool { return m.Finished }

// InPhase returns a condition that holds once the machine is in phase p.
func InPhase(p runbook.Phase) func(runbook.Machine) bool {
	return func(m runbook.Machine) bool { return m.Phase == p }
}

// AtStep returns a condition that holds once step id is current.
func AtStep(id runbook.StepID) func(runbook.Machine) bool {
	return func(m runbook.Machine) bool { s, ok := m.Current(); return ok && s.ID == id }
}

// ---- looking at effects ----

// Changes lists the node-changing effects as "stop fw-b", "swap fw-b",
// "lock"…, in order.
func Changes(effs []runbook.Effect) []string {
	var out []string
	for _, e := range effs {
		if runbook.EffectChangesNode(e) {
			out = append(out, e.Kind()+spaced(runbook.EffectNode(e)))
		}
	}
	return out
}

// EffectsOf returns the effects of type T, in order.
func EffectsOf[T runbook.Effect](effs []runbook.Effect) []T {
	var out []T
	for _, e := range effs {
		if x, ok := e.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

func onNode(n string) string {
	if n == "" {
		return ""
	}
	return " on " + n
}

func spaced(n string) string {
	if n == "" {
		return ""
	}
	return " " + n
}
