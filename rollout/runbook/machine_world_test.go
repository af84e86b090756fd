package runbook

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
)

// mtWorld is a deterministic stand-in for the executor and a Neuwerk
// cluster, used to drive the pure machine in tests. It answers each effect
// at once at the current time; time moves only on Tick (1 s). It writes one
// Raft entry per second, elects the longest-running ready voter ~3 s after
// a leader stops, and serves health snapshots built by hand from that
// state, in the shapes of facts §1–§3 and §10.

var (
	mtT0     = time.Date(2026, 4, 4, 12, 0, 0, 0, time.UTC)
	mtOldSHA = strings.Repeat("a1", 32)
	mtNewSHA = strings.Repeat("b2", 32)
	mtBadSHA = strings.Repeat("c3", 32)
	mtOld    = BuildRef{Version: "1.0.0", SHA256: mtOldSHA}
	mtNew    = BuildRef{Version: "1.1.0", SHA256: mtNewSHA}
)

type mtNode struct {
	name, id   string
	voter      bool
	up         bool
	startedAt  time.Time
	bin        string
	newBin     string
	prevBin    string
	neverReady bool   // /ready never all ok (like 1.1.1-never-ready)
	applied    uint64 // raft_last_applied while down
	peerErrs   float64
	// Cloud mode (mtCloud): not (yet, or any more) a Raft member; not
	// polled any more (terminated).
	notMember bool
	gone      bool
	addr      string // its Raft address, as members list it
}

type mtWorld struct {
	t       testing.TB
	now     time.Time
	nodes   []*mtNode
	leader  string
	term    uint64
	index   uint64
	electAt time.Time

	m       Machine
	queue   []Effect
	effects []Effect
	events  []Event

	batches [][]Effect

	failOn      map[string]error       // "start fw-b" → error for the next such effect
	badNew      map[string]bool        // the target release never becomes ready on these nodes
	crashNew    map[string]bool        // the target release crash-loops on these nodes (mtCrashCycle)
	units       map[string]health.Unit // a unit's state set by hand, whatever the node does
	autoApprove bool
	approvals   map[StepID]bool // steps an Approve was sent for (accepted or not)
	maxDown     int
	chainBroken map[string]bool // an operation of the node's chain in flight failed: the rest do not run
	cloud       *mtCloud        // cloud mode: the group behind the nodes
}

func mtNodeID(i int) string { return fmt.Sprintf("%d", 1000000+i*7919) }

func mtNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("fw-%c", 'a'+i)
	}
	return out
}

// mtPlanInput: n voters on 1.0.0, node leaderIdx leads.
func mtPlanInput(n, leaderIdx int, o PlanOptions) PlanInput {
	in := PlanInput{Cluster: "lab", Target: mtNew, Known: []BuildRef{mtOld, mtNew}, Options: o}
	for i, name := range mtNames(n) {
		in.Nodes = append(in.Nodes, PlanNode{Name: name, NodeID: mtNodeID(i), Voter: true, Leader: i == leaderIdx, Current: mtOld})
	}
	return in
}

func mtOpts() PlanOptions {
	return PlanOptions{Backup: BackupLive, Window: 5 * time.Second, GateTimeout: 60 * time.Second, ElectionWindow: 20 * time.Second}
}

func mtPlan(t testing.TB, n, leaderIdx int, o PlanOptions) Plan {
	t.Helper()
	p, err := BuildPlan(mtPlanInput(n, leaderIdx, o))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newWorld(t testing.TB, p Plan, mo MachineOptions) *mtWorld {
	w := &mtWorld{t: t, now: mtT0, term: 7, index: 1000, failOn: map[string]error{}, badNew: map[string]bool{}, crashNew: map[string]bool{}, units: map[string]health.Unit{}, autoApprove: true, approvals: map[StepID]bool{}}
	for _, n := range p.Nodes {
		w.nodes = append(w.nodes, &mtNode{name: n.Name, id: n.NodeID, voter: n.Voter, up: true, startedAt: mtT0.Add(-time.Hour), bin: n.Current.SHA256, applied: w.index})
		if n.Leader {
			w.leader = n.Name
		}
	}
	w.m = NewMachine(p, mo)
	return w
}

func (w *mtWorld) node(name string) *mtNode {
	for _, n := range w.nodes {
		if n.name == name {
			return n
		}
	}
	w.t.Fatalf("world: no node %q", name)
	return nil
}

func (w *mtWorld) ready(n *mtNode) bool {
	return n.up && !n.neverReady && w.now.Sub(n.startedAt) >= 2*time.Second && w.leader != ""
}

// send feeds one event to the machine and queues the effects that need an
// answer. It checks the invariants every effect batch must keep.
func (w *mtWorld) send(ev Event) []Effect {
	w.t.Helper()
	if a, ok := ev.(Approve); ok {
		w.approvals[a.Step] = true
	}
	w.events = append(w.events, ev)
	effs := w.m.Handle(ev)
	mtCheckBatch(w.t, w.effects, effs)
	if len(effs) > 0 {
		w.batches = append(w.batches, effs)
	}
	for _, e := range effs {
		w.effects = append(w.effects, e)
		if EffectNeedsResult(e) {
			w.queue = append(w.queue, e)
		}
	}
	return effs
}

// answer performs e on the world and returns the machine's answer. The
// operations of a chain run in order, as the executor runs them: after
// one fails the rest answer "not run" and do nothing.
func (w *mtWorld) answer(e Effect) Event {
	ev := w.perform(e)
	if a, ok := e.(NodeAction); ok && a.ChainLen > 1 {
		if r, ok := ev.(EffectResult); ok && r.Err != nil {
			w.failChain(a)
		}
	}
	return ev
}

// failChain: an operation of a chain failed; the rest of it will not run.
func (w *mtWorld) failChain(a NodeAction) {
	if a.ChainLen > 1 {
		if w.chainBroken == nil {
			w.chainBroken = map[string]bool{}
		}
		w.chainBroken[a.Node] = true
	}
}

func (w *mtWorld) perform(e Effect) Event {
	if a, ok := e.(NodeAction); ok && a.ChainLen > 1 {
		if a.ChainPos == 0 {
			delete(w.chainBroken, a.Node)
		} else if w.chainBroken[a.Node] {
			return EffectResult{ID: a.ID, At: w.now, Err: errors.New("not run: an earlier operation of its chain failed")}
		}
	}
	key := e.Kind()
	if n := EffectNode(e); n != "" {
		key += " " + n
	}
	if err, ok := w.failOn[key]; ok {
		delete(w.failOn, key)
		return EffectResult{ID: e.Meta().ID, At: w.now, Err: err}
	}
	res := EffectResult{ID: e.Meta().ID, At: w.now}
	if w.cloud != nil {
		if ev, ok := w.cloud.perform(w, e); ok {
			return ev
		}
	}
	switch e := e.(type) {
	case PollHealth:
		return Snapshot{ID: e.ID, Snap: w.snapshot(), At: w.now}
	case ReadNodeFiles:
		var files []NodeFiles
		for _, name := range e.Nodes {
			n := w.node(name)
			files = append(files, NodeFiles{Node: name, SHA256: n.bin, NewPresent: n.newBin != "", NewSHA256: n.newBin,
				PrevPresent: n.prevBin != "", PrevSHA256: n.prevBin, Active: n.up, Unit: w.unitOf(n)})
		}
		res.Data = files
	case TakeSysdump:
		res.Data = SysdumpInfo{Path: fmt.Sprintf("sysdump-%s-%d.tar.gz", e.Purpose, e.ID)}
	case NodeAction:
		n := w.node(e.Node)
		switch e.Op {
		case OpStage:
			n.newBin = e.SHA256
		case OpBackup:
			res.Data = BackupInfo{Set: "set-1", Path: "/var/backups/neuwerk/" + e.Node + ".tar.gz", SHA256: strings.Repeat("d4", 32)}
		case OpStop:
			n.up, n.applied = false, w.index
			if w.leader == n.name {
				w.leader, w.electAt = "", w.now.Add(3*time.Second)
			}
		case OpKeepPrev:
			n.prevBin = n.bin
		case OpSwap:
			if n.newBin == "" {
				res.Err = errors.New("no .new to swap in")
				break
			}
			n.bin, n.newBin = n.newBin, ""
		case OpRestorePrev:
			if n.prevBin == "" {
				res.Err = errors.New("no .prev to restore")
				break
			}
			n.bin, n.prevBin = n.prevBin, ""
		case OpStart:
			if !n.up {
				n.up, n.startedAt = true, w.now
			}
			n.neverReady = n.bin == mtBadSHA || ((w.badNew[n.name] || w.crashNew[n.name]) && n.bin == mtNewSHA)
		case OpUnstage:
			if n.newBin != "" && n.newBin != e.SHA256 {
				res.Err = errors.New(".new is not the staged target")
				break
			}
			n.newBin = ""
		}
	}
	down := 0
	for _, n := range w.nodes {
		if !n.up {
			down++
		}
	}
	w.maxDown = max(w.maxDown, down)
	return res
}

// mtCrashCycle is a crash-looping release's cycle: it runs 3 s, exits,
// and systemd restarts it 2 s later (like sim's 1.1.1-crashloop).
const mtCrashCycle = 5 * time.Second

// unitOf is node n's unit as systemctl show reports it.
func (w *mtWorld) unitOf(n *mtNode) health.Unit {
	if u, ok := w.units[n.name]; ok {
		return u
	}
	if !n.up {
		return health.Unit{ActiveState: "inactive", SubState: "dead"}
	}
	u := health.Unit{ActiveState: "active", SubState: "running"}
	if w.crashNew[n.name] && n.bin == mtNewSHA {
		d := w.now.Sub(n.startedAt)
		u.NRestarts = int(d / mtCrashCycle)
		if d%mtCrashCycle >= 3*time.Second {
			u.ActiveState, u.SubState = "activating", "auto-restart"
		}
	}
	return u
}

// tick advances the world one second.
func (w *mtWorld) tick() {
	w.now = w.now.Add(time.Second)
	if w.leader != "" || w.cloud == nil { // a cloud world writes only with a leader, as Raft does
		w.index++
	}
	for _, n := range w.nodes {
		if w.ready(n) {
			n.applied = w.index
		}
	}
	if w.cloud != nil {
		w.cloud.tick(w)
	}
	if w.leader == "" && !w.electAt.IsZero() && !w.now.Before(w.electAt) {
		w.elect()
	}
}

func (w *mtWorld) elect() {
	up, voters := 0, 0
	var best *mtNode
	for _, n := range w.nodes {
		if n.voter && !n.notMember {
			voters++
		}
		if n.up && n.voter && !n.notMember {
			up++
			if best == nil || n.startedAt.Before(best.startedAt) {
				best = n
			}
		}
	}
	if best == nil || up < health.Quorum(voters) {
		return
	}
	w.leader, w.term, w.electAt = best.name, w.term+1, time.Time{}
}

// moveLeader makes name the leader in a new term (an election).
func (w *mtWorld) moveLeader(name string) { w.leader, w.term = name, w.term+1 }

// step answers one queued effect, or approves the open dialog, or ticks.
func (w *mtWorld) step() {
	w.t.Helper()
	if len(w.queue) > 0 {
		e := w.queue[0]
		w.queue = w.queue[1:]
		w.send(w.answer(e))
		return
	}
	if s, ok := w.m.AwaitingApproval(); ok && w.autoApprove {
		w.send(Approve{Step: s.ID, By: "op@laptop", At: w.now})
		return
	}
	w.tick()
	w.send(Tick{Now: w.now})
}

// runUntil steps until cond holds or the machine finishes.
func (w *mtWorld) runUntil(cond func() bool) {
	w.t.Helper()
	for i := 0; i < 20000; i++ {
		if cond() {
			return
		}
		if w.m.Finished {
			w.t.Fatalf("finished (exit %d: %s) before the condition held", w.m.ExitCode, w.m.Reason)
		}
		w.step()
	}
	w.t.Fatalf("condition never held; phase %s, pause %+v, current %+v", w.m.Phase, w.m.Pause, mtCur(w.m))
}

func (w *mtWorld) runToEnd() {
	w.t.Helper()
	for i := 0; i < 20000 && !w.m.Finished; i++ {
		w.step()
	}
	if !w.m.Finished {
		w.t.Fatalf("never finished; phase %s, pause %+v, current %+v", w.m.Phase, w.m.Pause, mtCur(w.m))
	}
}

// untilPaused runs until a failure pause has its sysdump back.
func (w *mtWorld) untilPaused() {
	w.t.Helper()
	w.runUntil(func() bool { return w.m.Pause != nil && (w.m.Failure == nil || !w.m.Failure.SysdumpPending) })
}

func mtCur(m Machine) string {
	s, ok := m.Current()
	if !ok {
		return "none"
	}
	ops := 0
	if s.def != nil {
		ops = len(s.def.Ops)
	}
	return fmt.Sprintf("%s %s op %d of %d", s.ID, s.Status, s.pc+1, ops)
}

func (w *mtWorld) snapshot() health.ClusterSnapshot {
	snap := health.ClusterSnapshot{TakenAt: w.now}
	for _, n := range w.nodes {
		if n.gone {
			continue
		}
		ns := health.NodeSnapshot{Name: n.name, NodeID: n.id, APIURL: "https://" + n.name + ":8443", TakenAt: w.now}
		if n.notMember {
			ns.NodeID = "" // the poller matches a node to a member by its address
		}
		if !n.up {
			err := errors.New("connection refused")
			ns.HealthErr, ns.ReadyErr, ns.MetricsErr = err, err, err
		} else {
			ns.Health = &health.HealthResponse{Status: "ok"}
			ns.Ready = mtReady(w.ready(n))
			ns.Metrics = w.metrics(n)
		}
		snap.Nodes = append(snap.Nodes, ns)
	}
	l := w.leaderNode()
	if l == nil {
		snap.StatsErr = errors.New("503 Service Unavailable: leader unknown")
		snap.MembersErr = snap.StatsErr
		return snap
	}
	st := &health.Stats{Cluster: health.ClusterStats{IsLeader: true, CurrentTerm: w.term, LastLogIndex: w.index, LastApplied: w.index, NodeCount: uint64(len(w.nodes))}}
	lead := w.index
	st.Cluster.Nodes = append(st.Cluster.Nodes, health.NodeCatchup{NodeID: l.id, Role: "leader", MatchedIndex: &lead, LagEntries: new(uint64), CaughtUp: true})
	var rows []health.NodeCatchup
	for _, n := range w.nodes {
		if n == l || n.notMember {
			continue
		}
		matched := n.applied
		lag := w.index - matched
		rows = append(rows, health.NodeCatchup{NodeID: n.id, Role: "follower", MatchedIndex: &matched, LagEntries: &lag, CaughtUp: lag == 0})
	}
	sort.Slice(rows, func(a, b int) bool { return rows[a].NodeID < rows[b].NodeID })
	st.Cluster.Nodes = append(st.Cluster.Nodes, rows...)
	snap.Stats, snap.StatsFrom = st, l.name
	mem := &health.MembersResponse{}
	for _, n := range w.nodes {
		if n.notMember {
			continue
		}
		role := "follower"
		switch {
		case n == l:
			role = "leader"
		case !n.voter:
			role = "learner"
		}
		mem.Members = append(mem.Members, health.Member{NodeID: n.id, Addr: n.addr, Role: role, IsVoter: n.voter})
	}
	snap.Members, snap.MembersFrom = mem, l.name
	return snap
}

func (w *mtWorld) leaderNode() *mtNode {
	if w.leader == "" {
		return nil
	}
	n := w.node(w.leader)
	if !n.up {
		return nil
	}
	return n
}

func mtReady(ok bool) *health.ReadyResponse {
	r := &health.ReadyResponse{Ready: ok}
	for _, name := range health.ReadyCheckNames {
		c := health.ReadyCheck{Name: name, OK: true}
		if !ok && name == health.CheckPolicyReplication {
			c.OK = false
			d := health.ReadyCheckDetails[name]
			c.Detail = &d
		}
		r.Checks = append(r.Checks, c)
	}
	return r
}

func (w *mtWorld) metrics(n *mtNode) *health.Metrics {
	var b strings.Builder
	isLeader := 0
	if w.leader == n.name {
		isLeader = 1
	}
	fmt.Fprintf(&b, "# TYPE raft_is_leader gauge\nraft_is_leader %d\n", isLeader)
	fmt.Fprintf(&b, "# TYPE raft_current_term gauge\nraft_current_term %d\n", w.term)
	fmt.Fprintf(&b, "# TYPE raft_last_log_index gauge\nraft_last_log_index %d\n", w.index)
	fmt.Fprintf(&b, "# TYPE raft_last_applied gauge\nraft_last_applied %d\n", n.applied)
	b.WriteString("# TYPE raft_peer_errors_total counter\n")
	for _, p := range w.nodes {
		if p != n {
			fmt.Fprintf(&b, "raft_peer_errors_total{peer_id=%q,rpc=\"append_entries\",kind=\"timeout\"} %g\n", p.id, p.peerErrs)
		}
	}
	m, err := health.ParseMetrics(strings.NewReader(b.String()))
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

// ---- effect helpers ----

// mtCheckBatch checks, for one batch appended to what came before, that
// every node-changing effect is preceded by its journal intent.
func mtCheckBatch(t testing.TB, before, batch []Effect) {
	t.Helper()
	intents := map[EffectID]bool{}
	for _, e := range before {
		if r, ok := e.(Record); ok && r.Type == RecordIntent {
			intents[r.For] = true
		}
	}
	for _, e := range batch {
		if r, ok := e.(Record); ok && r.Type == RecordIntent {
			intents[r.For] = true
		}
		if EffectChangesNode(e) && !intents[e.Meta().ID] {
			t.Fatalf("%s %s (id %d) has no journal intent before it", e.Kind(), EffectNode(e), e.Meta().ID)
		}
	}
}

// mtChanges lists the node-changing effects as "stop fw-b", "lock"…
func mtChanges(effs []Effect) []string {
	var out []string
	for _, e := range effs {
		if !EffectChangesNode(e) {
			continue
		}
		s := e.Kind()
		if n := EffectNode(e); n != "" {
			s += " " + n
		}
		out = append(out, s)
	}
	return out
}

func mtOfKind[T Effect](effs []Effect) []T {
	var out []T
	for _, e := range effs {
		if x, ok := e.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

func mtRecords(effs []Effect, op string) []Record {
	var out []Record
	for _, r := range mtOfKind[Record](effs) {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// mtUpgradeSeq is the changes one node's upgrade makes.
func mtUpgradeSeq(node string) []string {
	return []string{"stop " + node, "keep-prev " + node, "swap " + node, "start " + node}
}

func mtJoin(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func mtEqual(t testing.TB, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\ngot:  %s\nwant: %s", what, strings.Join(got, ", "), strings.Join(want, ", "))
	}
}
